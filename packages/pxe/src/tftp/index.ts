export { type Negotiated, type NegotiationLimits, negotiate } from "./options.js";
export {
  dataHeader,
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  encodeRequest,
  OP,
  parseTftp,
  TFTP_ERR,
  type TftpMode,
  type TftpOptions,
  type TftpPacket,
} from "./packet.js";
export { checkTftpName, lookupTftpFile } from "./path.js";
export {
  planRequest,
  type RequestPlan,
  type TftpEvent,
  TftpServer,
  type TftpServerOptions,
  type TftpStats,
} from "./server.js";
export { type BlockSource, FileCache, MemorySource, StreamSource, toNetascii } from "./source.js";
export { type Datagram, ReadTransfer, type Step, type TransferParams } from "./transfer.js";

import { describe, expect, it } from "vitest";
import { redact, redactDeep } from "./redact.js";

const INSTALL = "Qw3rTy-uiOP_asdfGHJK12";
const JOIN = `labj_${"A1b2-C3d4_".repeat(4)}xyz`;
const API = `lab_0a1b2c3d_${"s3cr3t-T0ken_".repeat(3)}abcd`;

describe("redact", () => {
  it.each([
    {
      name: "an install token in a boot file URL (the MAC stays)",
      text: `GET /pxe/v1/machines/52:54:00:aa:bb:cc/${INSTALL}/user-data`,
      want: "GET /pxe/v1/machines/52:54:00:aa:bb:cc/***/user-data",
    },
    {
      name: "a full URL with a host",
      text: `wget http://10.0.0.1:7480/pxe/v1/machines/52-54-00-aa-bb-cc/${INSTALL}/ks.cfg -O /tmp/ks`,
      want: "wget http://10.0.0.1:7480/pxe/v1/machines/52-54-00-aa-bb-cc/***/ks.cfg -O /tmp/ks",
    },
    {
      name: "a kernel command line",
      text: `Command line: console=ttyS0 lab.token=${INSTALL} lab.url=http://10.0.0.1:7480`,
      want: "Command line: console=ttyS0 lab.token=*** lab.url=http://10.0.0.1:7480",
    },
    {
      name: "a query string",
      text: `/pxe/v1/log?mac=x&token=${INSTALL}&n=1`,
      want: "/pxe/v1/log?mac=x&token=***&n=1",
    },
    { name: "a header", text: `X-Lab-Install-Token: ${INSTALL}`, want: "X-Lab-Install-Token: ***" },
    { name: "a join token", text: `LAB_JOIN_TOKEN=${JOIN}`, want: "LAB_JOIN_TOKEN=labj_***" },
    { name: "an API token keeps its id", text: `Bearer ${API}`, want: "Bearer lab_0a1b2c3d_***" },
    { name: "text without tokens", text: "partitioning /dev/nvme0n1", want: "partitioning /dev/nvme0n1" },
  ])("masks $name", ({ text, want }) => {
    expect(redact(text)).toBe(want);
  });

  it("masks every string inside a value, keys included, and keeps the rest", () => {
    const v = redactDeep({ url: `/pxe/v1/machines/m/${INSTALL}/f`, n: 3, list: [JOIN, null], [JOIN]: true });
    expect(v).toEqual({ url: "/pxe/v1/machines/m/***/f", n: 3, list: ["labj_***", null], "labj_***": true });
    expect(JSON.stringify(v)).not.toMatch(new RegExp(`${INSTALL}|${JOIN}`));
  });
});

/** What every command module gets from the program: its streams, output and the session. */
import type { Session } from "../context.js";
import type { Style } from "../output/style.js";
import type { Format, IO } from "../program.js";

export interface CommandContext {
  io: IO;
  print: (s: string) => void;
  emit: (format: Format, data: unknown, human: () => string) => void;
  out: Style;
  open: () => Promise<Session>;
}

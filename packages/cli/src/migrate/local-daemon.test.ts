import { describe, expect, it } from "vitest";
import { restartArgv } from "./local-daemon.js";

const node = ["/usr/bin/node", "/opt/lab/bin/lab.js", "server"];

describe("restartArgv", () => {
  it("pins a kernel-chosen port to the one the server printed", () => {
    expect(
      restartArgv({ argv: [...node, "--listen", "127.0.0.1:0", "--tls"], url: "https://127.0.0.1:45693" }),
    ).toEqual([...node, "--listen", "127.0.0.1:45693", "--tls"]);
    expect(restartArgv({ argv: [...node, "--listen=[::]:0"], url: "http://[::1]:8080" })).toEqual([
      ...node,
      "--listen=[::]:8080",
    ]);
  });

  it("keeps a port the operator chose, and arguments without --listen", () => {
    expect(
      restartArgv({ argv: [...node, "--listen", "0.0.0.0:7443"], url: "https://127.0.0.1:7443" }),
    ).toEqual([...node, "--listen", "0.0.0.0:7443"]);
    expect(restartArgv({ argv: node, url: "https://127.0.0.1:7443" })).toEqual(node);
    expect(restartArgv({ argv: [...node, "--listen", "127.0.0.1:0"], url: "not a url" })).toEqual([
      ...node,
      "--listen",
      "127.0.0.1:0",
    ]);
  });
});

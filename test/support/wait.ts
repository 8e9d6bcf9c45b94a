/** Polls `probe` (sync or async) until it returns something truthy; fails after `guardMs`. */
export async function until<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  guardMs = 30_000,
): Promise<T> {
  const end = Date.now() + guardMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Loads a screen's data and keeps it fresh: again when the key changes, when the change feed
 * bumps `revision`, and every `pollMs` while shown. One load at a time per screen — changes
 * that arrive during a load cause exactly one more — so a burst of events never queues a
 * burst of requests. The previous data stays on screen while the next arrives (no blank frame).
 */
import { useEffect, useRef, useState } from "react";

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Which key `data` belongs to. */
  key: string | undefined;
}

export function useLoad<T>(
  key: string,
  load: () => Promise<T>,
  revision: number,
  pollMs?: number,
): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>({
    data: undefined,
    error: undefined,
    loading: true,
    key: undefined,
  });
  const loadRef = useRef(load);
  loadRef.current = load;
  const running = useRef(false);
  const again = useRef(false);
  const alive = useRef(true);
  const keyRef = useRef(key);
  keyRef.current = key;

  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);

  useEffect(() => {
    const run = async () => {
      if (running.current) {
        again.current = true;
        return;
      }
      running.current = true;
      do {
        again.current = false;
        const forKey = keyRef.current;
        try {
          const data = await loadRef.current();
          if (alive.current && forKey === keyRef.current)
            setState({ data, error: undefined, loading: false, key: forKey });
        } catch (error) {
          if (alive.current && forKey === keyRef.current)
            setState((s) => ({
              data: s.key === forKey ? s.data : undefined,
              error,
              loading: false,
              key: forKey,
            }));
        }
        if (forKey !== keyRef.current) again.current = true;
      } while (again.current && alive.current);
      running.current = false;
    };
    void run();
  }, [key, revision]);

  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!pollMs) return;
    const t = setTimeout(() => setTick((n) => n + 1), pollMs);
    return () => clearTimeout(t);
  }, [pollMs, state]);
  useEffect(() => {
    if (tick === 0) return;
    const forKey = keyRef.current;
    loadRef.current().then(
      (data) => {
        if (alive.current && forKey === keyRef.current)
          setState({ data, error: undefined, loading: false, key: forKey });
      },
      () => undefined,
    );
  }, [tick]);

  return state.key === key ? state : { data: undefined, error: undefined, loading: true, key };
}

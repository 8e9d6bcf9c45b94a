/**
 * `useApi(path)`: a GET that follows the fleet. It refetches when the path changes and when
 * the event stream says something happened (coalesced: one fetch in flight, one queued), and
 * keeps showing the previous answer meanwhile, so a busy stream never blanks a page.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api } from "./api.js";
import { live } from "./live.js";

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  /** Refetch now (after an action). */
  reload: () => void;
}

/**
 * GETs started before the page has rendered (see main.tsx): with a saved token the fleet's
 * data is asked for at once, beside /whoami, instead of after the sign-in check and the
 * first render. The first `useApi` of the same path takes the answer over.
 */
const early = new Map<string, Promise<unknown>>();

export function prefetch(path: string): void {
  if (!early.has(path)) {
    const p = api(path);
    p.catch(() => undefined); // an error is reported by the useApi that takes it over
    early.set(path, p);
  }
}

export function useApi<T>(path: string | null, opts: { follow?: boolean } = {}): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const state = useRef({ inFlight: false, again: false, path });
  state.current.path = path;

  const fetchNow = () => {
    const s = state.current;
    if (!s.path) return;
    if (s.inFlight) {
      s.again = true;
      return;
    }
    s.inFlight = true;
    const asked = s.path;
    const started = early.get(asked) as Promise<T> | undefined;
    early.delete(asked);
    (started ?? api<T>(asked))
      .then(
        (d) => {
          if (state.current.path !== asked) return;
          setData(d);
          setError(undefined);
        },
        (e: unknown) => {
          if (state.current.path !== asked) return;
          setError(e instanceof ApiError ? e : new ApiError(0, "LAB_E_NETWORK", String(e)));
        },
      )
      .finally(() => {
        s.inFlight = false;
        if (s.again) {
          s.again = false;
          fetchNow();
        }
      });
  };

  useEffect(() => {
    setData(undefined);
    setError(undefined);
    fetchNow();
  }, [path]);

  useEffect(() => {
    if (opts.follow === false) return;
    let pending: ReturnType<typeof setTimeout> | undefined;
    let seen = live.revision;
    const unsubscribe = live.subscribe(() => {
      // Only an event (or a reconnect) can change the data: a link state change alone
      // (connecting → live) must not refetch — on the 10k fleet that was a second 6 MB GET.
      if (live.revision === seen) return;
      seen = live.revision;
      // Many events in a burst become one refetch.
      if (pending) return;
      pending = setTimeout(() => {
        pending = undefined;
        fetchNow();
      }, 150);
    });
    return () => {
      unsubscribe();
      clearTimeout(pending);
    };
  }, [path]);

  return { data, error, reload: fetchNow };
}

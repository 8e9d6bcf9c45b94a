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
    api<T>(asked)
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
    const unsubscribe = live.subscribe(() => {
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

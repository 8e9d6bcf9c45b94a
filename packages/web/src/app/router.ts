/** Hash routes (`#/servers/db-1`): the server serves one page and needs no fallback rules. */
import { useEffect, useState } from "preact/hooks";

export interface Route {
  /** Path segments, decoded: `#/secrets/k8s%2Fjoin-token` → ["secrets", "k8s/join-token"]. */
  parts: string[];
  params: URLSearchParams;
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path = "/", query = ""] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const on = () => setRoute(currentRoute());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

/** The href of a page: `href("servers", "db-1")` → `#/servers/db-1`. */
export function href(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join("/")}`;
}

export function navigate(to: string): void {
  location.hash = to.replace(/^#/, "");
}

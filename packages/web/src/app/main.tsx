/** The dashboard shell: login with an API token, the navigation, the live link, the pages. */
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, api, type Principal, savedToken, saveToken } from "./api.js";
import { prefetch } from "./data.js";
import { Kiosk, kioskToken } from "./kiosk.js";
import { type LinkState, live, useLive } from "./live.js";
import { FleetPage, fleetPath, MACHINES } from "./pages/fleet.js";
import { LayoutPage } from "./pages/layout.js";
import { LivePage } from "./pages/live.js";
import {
  AlertPage,
  AlertsPage,
  GroupPage,
  GroupsPage,
  LabelPage,
  LabelsPage,
  SecretPage,
  SecretsPage,
} from "./pages/reverse.js";
import { RunSlides, RunsPage } from "./pages/runs.js";
import { ServerPage } from "./pages/server.js";
import { currentRoute, type Route, useRoute } from "./router.js";
import { ErrorBox } from "./ui.js";

function App() {
  const route = useRoute();
  const [me, setMe] = useState<Principal | null | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);

  const check = async () => {
    if (!savedToken()) return setMe(null);
    try {
      setMe(await api<Principal>("/whoami"));
      setError(undefined);
      live.start();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) saveToken(null);
      setError(e as ApiError);
      setMe(null);
    }
  };
  useEffect(() => {
    // A login link carries the token in the fragment (never sent to the server), used once.
    const token = route.parts[0] === "login" ? route.params.get("token") : kioskToken();
    if (token) {
      saveToken(token);
      history.replaceState(null, "", "#/");
    }
    void check();
  }, []);

  if (me === undefined) return <div class="muted loading">connecting…</div>;
  if (me !== null && location.pathname === "/kiosk") return <Kiosk me={me} />;
  if (me === null)
    return (
      <Login
        error={error}
        onToken={(t) => {
          saveToken(t);
          void check();
        }}
      />
    );
  return (
    <div class="shell">
      <Nav
        route={route}
        me={me}
        onLogout={() => {
          live.stop();
          saveToken(null);
          setMe(null);
        }}
      />
      <main>
        <Page route={route} me={me} />
      </main>
    </div>
  );
}

function Page({ route, me }: { route: Route; me: Principal }) {
  const [kind, name] = route.parts;
  switch (kind) {
    case undefined:
    case "login":
      return <FleetPage q={route.params.get("q") ?? ""} />;
    case "servers":
      return name ? <ServerPage name={name} me={me} /> : <FleetPage q={route.params.get("q") ?? ""} />;
    case "labels":
      return name ? <LabelPage name={name} /> : <LabelsPage />;
    case "groups":
      return name ? <GroupPage name={name} /> : <GroupsPage />;
    case "alerts":
      return name ? <AlertPage name={name} /> : <AlertsPage />;
    case "secrets":
      return name ? <SecretPage name={name} /> : <SecretsPage />;
    case "live":
      return <LivePage />;
    case "layout":
      return <LayoutPage />;
    case "runs":
      return name ? (
        <RunSlides id={name} lab={route.params.get("lab")} />
      ) : (
        <RunsPage lab={route.params.get("lab")} />
      );
    default:
      return (
        <ErrorBox error={new ApiError(404, "LAB_E_NOT_FOUND", `no page "${kind}"`, "use the links above")} />
      );
  }
}

const LINK_TEXT: Record<LinkState, string> = {
  connecting: "connecting",
  live: "live",
  reconnecting: "reconnecting",
  stopped: "not connected",
};

function Nav({ route, me, onLogout }: { route: Route; me: Principal; onLogout: () => void }) {
  const hub = useLive();
  const here = route.parts[0] ?? "";
  const item = (to: string, text: string, match: string[]) => (
    <a href={to} class={match.includes(here) ? "active" : ""}>
      {text}
    </a>
  );
  return (
    <nav class="top">
      <span class="brand">lab</span>
      {item("#/", "Fleet", ["", "servers", "login"])}
      {item("#/labels", "Labels", ["labels"])}
      {item("#/groups", "Groups", ["groups"])}
      {item("#/alerts", "Alerts", ["alerts"])}
      {item("#/secrets", "Secrets", ["secrets"])}
      {item("#/live", "Live", ["live"])}
      {item("#/layout", "Layout", ["layout"])}
      {item("#/runs", "Runs", ["runs"])}
      <span class="spacer" />
      <span
        class={`link link-${hub.state}`}
        data-testid="link"
        title={hub.missed ? `${hub.missed} events missed` : ""}
      >
        ● {LINK_TEXT[hub.state]}
        {hub.missed ? ` (missed ${hub.missed})` : ""}
      </span>
      <span class="who" data-testid="who">
        {me.name} · {me.scopes.join(",")}
      </span>
      <button type="button" class="ghost" onClick={onLogout}>
        Log out
      </button>
    </nav>
  );
}

function Login({ error, onToken }: { error: ApiError | undefined; onToken: (t: string) => void }) {
  const [token, setToken] = useState("");
  return (
    <div class="login">
      <form
        class="card"
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim()) onToken(token.trim());
        }}
      >
        <h1>lab</h1>
        <p class="muted">
          Sign in with an API token (<code>lab token create</code>, or the first-start admin token in{" "}
          <code>LAB_HOME/server/admin.token</code>).
        </p>
        <input
          type="password"
          name="token"
          placeholder="lab_…"
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          autocomplete="off"
        />
        <button type="submit" class="primary">
          Sign in
        </button>
        {error ? <ErrorBox error={error} /> : null}
      </form>
    </div>
  );
}

// The fleet page is where most visits start: with a saved token its data is on its way
// before the sign-in check returns (a wrong token only costs a refused GET).
{
  const first = currentRoute();
  if (savedToken() && (first.parts[0] === undefined || (first.parts[0] === "servers" && !first.parts[1]))) {
    prefetch(fleetPath(first.params.get("q") ?? ""));
    prefetch(MACHINES);
  }
}

render(<App />, document.getElementById("app") as HTMLElement);

/**
 * The one error catalogue. Every error Lab reports has a stable `LAB_E_…` code (warnings use
 * `LAB_W_…`), an HTTP status for the API and an exit code for the CLI. Classify by code, never
 * by message text.
 */

/** CLI exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 nothing observed to compare with. */
export const EXIT = { ok: 0, error: 1, usage: 2, notFound: 3, notObserved: 4 } as const;

interface CodeInfo {
  http: number;
  exit: number;
  /** What the user should do about it; appended to messages that do not say it already. */
  hint: string;
}

export const CATALOGUE = {
  LAB_E_USAGE: { http: 400, exit: EXIT.usage, hint: "run the command with --help" },
  LAB_E_NOT_FOUND: { http: 404, exit: EXIT.notFound, hint: "list what exists with `lab get`" },
  LAB_E_FILE_NOT_FOUND: { http: 400, exit: EXIT.error, hint: "check the path given to -f" },
  LAB_E_NO_DOCUMENTS: {
    http: 400,
    exit: EXIT.error,
    hint: "point -f at .yaml/.yml files or a directory holding them",
  },
  LAB_E_INVALID: {
    http: 400,
    exit: EXIT.error,
    hint: "fix the errors listed, then apply again (nothing was written)",
  },
  LAB_E_YAML_SYNTAX: { http: 400, exit: EXIT.error, hint: "fix the YAML syntax at that place" },
  LAB_E_SCHEMA_TYPE: { http: 400, exit: EXIT.error, hint: "change the value to the type shown" },
  LAB_E_SCHEMA_UNKNOWN_KEY: {
    http: 400,
    exit: EXIT.error,
    hint: "remove the key or correct its spelling",
  },
  LAB_E_SCHEMA_REQUIRED: { http: 400, exit: EXIT.error, hint: "add the missing field" },
  LAB_E_SCHEMA_VALUE: { http: 400, exit: EXIT.error, hint: "use one of the allowed values" },
  LAB_E_DUPLICATE_NAME: {
    http: 400,
    exit: EXIT.error,
    hint: "rename one of them or remove the duplicate",
  },
  LAB_E_REF_LABEL: {
    http: 400,
    exit: EXIT.error,
    hint: "define the label under `labels:` (an empty `name: {}` is enough) or fix the name",
  },
  LAB_E_REF_GROUP: { http: 400, exit: EXIT.error, hint: "define the group or fix the name" },
  LAB_E_REF_SIZE: { http: 400, exit: EXIT.error, hint: "define the size under `sizes:`" },
  LAB_E_REF_SERVER: { http: 400, exit: EXIT.error, hint: "define the server or fix the name" },
  LAB_E_REF_LAYOUT: {
    http: 400,
    exit: EXIT.error,
    hint: "define the layout under `layout:` or fix the name",
  },
  LAB_E_LAYOUT_PLACE: {
    http: 400,
    exit: EXIT.error,
    hint: "give each server and layout one place, and positions that fit the layout's size without overlapping",
  },
  LAB_E_LAYOUT_CYCLE: {
    http: 400,
    exit: EXIT.error,
    hint: "break the cycle: a layout cannot contain itself through other layouts",
  },
  LAB_E_REF_SECRET: {
    http: 400,
    exit: EXIT.error,
    hint: "declare the secret under `secrets:`, then give it its value with `lab secret set NAME --from-file FILE`",
  },
  LAB_E_GROUP_CYCLE: {
    http: 400,
    exit: EXIT.error,
    hint: "break the cycle: a group cannot contain or exclude itself through other groups",
  },
  LAB_E_ALERT_CONDITION: {
    http: 400,
    exit: EXIT.error,
    hint: "write METRIC OP NUMBER with a metric from the vocabulary in docs/alerts.md",
  },
  LAB_E_STORE_CORRUPT: {
    http: 500,
    exit: EXIT.error,
    hint: "run `lab state check`, then `lab state restore FILE` from a backup",
  },
  LAB_E_STORE_LOCKED: {
    http: 503,
    exit: EXIT.error,
    hint: "another lab process holds the database: wait for it or stop it, then retry",
  },
  LAB_E_STORE_TOO_NEW: {
    http: 500,
    exit: EXIT.error,
    hint: "this state was written by a newer lab: upgrade lab",
  },
  LAB_E_STORE_IO: { http: 500, exit: EXIT.error, hint: "check the state directory's permissions" },
  LAB_E_MEDIA_TOOL_MISSING: {
    http: 500,
    exit: EXIT.error,
    hint: "install the Debian packages named in the message, then build again",
  },
  LAB_E_MEDIA_IPXE_UEFI: {
    http: 400,
    exit: EXIT.error,
    hint: "use an iPXE from 2021 or later (--ipxe-dir), or build a BIOS-only image (--bios-only)",
  },
  LAB_E_MEDIA_BUILD: {
    http: 500,
    exit: EXIT.error,
    hint: "the named tool's own error follows; check free space in the output folder and /tmp",
  },
  LAB_E_IMAGE_UNSUPPORTED: {
    http: 400,
    exit: EXIT.error,
    hint: "use an autoinstall, kickstart, preseed or none image (`lab get images` lists the built-in ones)",
  },
  LAB_E_NOT_OBSERVED: {
    http: 409,
    exit: EXIT.notObserved,
    hint: "nothing reports this server's actual state yet, so there is nothing to compare: `lab describe server NAME` shows what is declared",
  },
  LAB_E_CONFLICT: {
    http: 409,
    exit: EXIT.error,
    hint: "the object is still in use: remove the references first",
  },
  LAB_E_BAD_REQUEST: {
    http: 400,
    exit: EXIT.error,
    hint: "fix the request field named in the message (see /api/v1/openapi.json)",
  },
  LAB_E_SERVER_NAME: {
    http: 400,
    exit: EXIT.usage,
    hint: "choose a host name: lower-case letters, digits and inner '-' (e.g. web-1), at most 63",
  },
  LAB_E_BAD_JSON: { http: 400, exit: EXIT.error, hint: "send a valid JSON body" },
  LAB_E_TOO_LARGE: {
    http: 413,
    exit: EXIT.error,
    hint: "send less at once (split the files into several applies)",
  },
  LAB_E_UNAUTHENTICATED: {
    http: 401,
    exit: EXIT.error,
    hint: "log in with `lab login SERVER --token TOKEN` (tokens come from `lab token create`)",
  },
  LAB_E_FORBIDDEN: {
    http: 403,
    exit: EXIT.error,
    hint: "use a token with the needed scope (`lab token create --scope write` or `admin`)",
  },
  LAB_E_CALLBACK_FORBIDDEN: {
    http: 403,
    exit: EXIT.error,
    hint: "a machine's callback token reports only for that machine: send its own server name, or use the token issued for the other machine (`lab callback-token NAME`)",
  },
  LAB_E_CALLBACK_TOKEN: {
    http: 401,
    exit: EXIT.error,
    hint: "the callback token is not one this server issued (or its key was replaced): get a new one with `lab callback-token NAME`",
  },
  LAB_E_LOKI_FRAME: {
    http: 502,
    exit: EXIT.error,
    hint: "the URL must be Loki's tail endpoint (ws://HOST:3100/loki/api/v1/tail?query=…); the frame is skipped and counted",
  },
  LAB_E_UNREACHABLE: {
    http: 503,
    exit: EXIT.error,
    hint: "check that `lab server` runs and the address is right, or `lab logout` to work locally",
  },
  LAB_E_TLS_UNTRUSTED: {
    http: 495,
    exit: EXIT.error,
    hint: "trust the server's CA: copy the ca.crt the server printed and run `lab login URL --ca-file ca.crt`",
  },
  LAB_E_NOT_READY: { http: 503, exit: EXIT.error, hint: "the server is starting or stopping: retry shortly" },
  LAB_E_LISTEN: {
    http: 500,
    exit: EXIT.error,
    hint: "another program holds the port, or ports below 1024 need root: pick another port or stop the other program",
  },
  LAB_E_NOT_A_TERMINAL: {
    http: 400,
    exit: EXIT.usage,
    hint: "run lab tui in an interactive terminal (not piped or redirected); scripts use lab get … -o json",
  },
  LAB_E_NEEDS_SERVER: {
    http: 400,
    exit: EXIT.usage,
    hint: "this works through lab server: point the CLI at one with `lab login URL --token …` (or --server URL)",
  },
  LAB_E_INTERNAL: { http: 500, exit: EXIT.error, hint: "this is a bug in lab: please report it" },
  // ── provisioning (lifecycle, dispatch, images) ──
  LAB_E_ILLEGAL_TRANSITION: {
    http: 409,
    exit: EXIT.error,
    hint: "see `lab provision list` for the machine's state and the moves it allows",
  },
  LAB_E_REF_IMAGE: {
    http: 400,
    exit: EXIT.error,
    hint: "define the image under `images:` or use a built-in one (`lab get images`)",
  },
  LAB_E_INSTALL_TOKEN: {
    http: 401,
    exit: EXIT.error,
    hint: "the machine must use the install token from the boot config Lab served it; reboot it to get a fresh one",
  },
  LAB_E_BAD_REPORT: {
    http: 400,
    exit: EXIT.error,
    hint: "the machine posted something Lab cannot read; check the installer's callback against docs/pxe.md",
  },
  LAB_E_IMAGE: {
    http: 400,
    exit: EXIT.error,
    hint: "list the images with `lab get images` or define it under `images:`",
  },
  LAB_E_PXE_SETUP: {
    http: 500,
    exit: EXIT.error,
    hint: "run `lab doctor` to see what the boot services are missing",
  },
  // ── dhcp ──
  LAB_E_DHCP_MALFORMED: {
    http: 400,
    exit: EXIT.error,
    hint: "the packet is not valid DHCP/BOOTP (RFC 2131/2132) and was dropped: check the client or relay that sent it",
  },
  LAB_E_DHCP_CONFIG: {
    http: 400,
    exit: EXIT.error,
    hint: "fix the DHCP setting named in the message (server address, netmask, pool range, boot URLs)",
  },
  LAB_E_DHCP_ENCODE: {
    http: 500,
    exit: EXIT.error,
    hint: "a reply did not fit in a DHCP packet: shorten the boot URL, host name or option named in the message",
  },
  LAB_E_DHCP_BIND: {
    http: 500,
    exit: EXIT.error,
    hint: "another DHCP server (dnsmasq, kea, dhcpd) may hold port 67/4011: stop it or set the DHCP mode to off; ports below 1024 need root or CAP_NET_BIND_SERVICE",
  },
  LAB_E_DHCP_LEASES_CORRUPT: {
    http: 500,
    exit: EXIT.error,
    hint: "the lease journal is damaged before its last line: restore it from a backup, or move it aside to start with no leases (clients will re-request)",
  },
  LAB_E_DHCP_LEASE_IO: {
    http: 500,
    exit: EXIT.error,
    hint: "check the disk holding the DHCP lease journal (space, permissions), then restart the server",
  },
  LAB_E_DHCP_BUSY: {
    http: 503,
    exit: EXIT.error,
    hint: "the lease journal cannot keep up (slow disk): the client will retry; check the disk's latency",
  },
  // ── tftp and boot files ──
  LAB_E_TFTP_MALFORMED: {
    http: 400,
    exit: EXIT.error,
    hint: "the peer sent a packet that is not valid TFTP (RFC 1350/2347): check the client or what else sends to the TFTP port",
  },
  LAB_E_TFTP_BIND: {
    http: 500,
    exit: EXIT.error,
    hint: "another TFTP server (dnsmasq, tftpd-hpa, in.tftpd) may hold the port: stop it or choose another port; port 69 needs root or CAP_NET_BIND_SERVICE",
  },
  LAB_E_TFTP_ROOT: {
    http: 500,
    exit: EXIT.error,
    hint: "create the TFTP root folder or point the server at an existing, readable one",
  },
  // ── install configs and syslog ──
  LAB_E_INSTALL_BAD_VALUE: {
    http: 400,
    exit: EXIT.error,
    hint: "fix the value named in the message: it ends up in installer scripts, so only the characters listed are allowed",
  },
  LAB_E_INSTALL_UNSUPPORTED: {
    http: 400,
    exit: EXIT.error,
    hint: "use a kickstart image to keep volumes on reprovision, or reprovision with an empty preserve list",
  },
  LAB_E_TALOS_CONFIG: {
    http: 400,
    exit: EXIT.error,
    hint: "give the cluster's machine config from `talosctl gen config` (controlplane.yaml or worker.yaml)",
  },
  LAB_E_TALOS_REJECTED: {
    http: 502,
    exit: EXIT.error,
    hint: "the Talos node refused the machine config Lab pushed: check the config secret (talosctl validate --config FILE --mode metal) and the node's console",
  },
  LAB_E_TALOS_UNREACHABLE: {
    http: 504,
    exit: EXIT.error,
    hint: "check that the machine booted the Talos image and got an address; its API listens on port 50000",
  },
  LAB_E_SYSLOG_BIND: {
    http: 500,
    exit: EXIT.error,
    hint: "another process holds the syslog port: stop it or choose another port",
  },
  LAB_E_INSTALL_LOG_IO: {
    http: 500,
    exit: EXIT.error,
    hint: "check the install log directory's permissions and free space",
  },
  // ── ssh ca and dns ──
  LAB_E_SSH_KEY_INVALID: {
    http: 400,
    exit: EXIT.error,
    hint: "give one OpenSSH public key line (`TYPE BASE64 [comment]`, as in the host's /etc/ssh/ssh_host_*_key.pub)",
  },
  LAB_E_SSH_KEY_UNSUPPORTED: {
    http: 400,
    exit: EXIT.error,
    hint: "use an ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa (≥ 2048 bits) host key",
  },
  LAB_E_SSH_CERT_INVALID: {
    http: 400,
    exit: EXIT.error,
    hint: "give a key id, at least one principal and a validity window that ends after it starts",
  },
  LAB_E_SSH_CA_CORRUPT: {
    http: 500,
    exit: EXIT.error,
    hint: "restore the SSH CA files from a backup; a new CA means every known_hosts must be updated",
  },
  LAB_E_DNS_INVALID: {
    http: 400,
    exit: EXIT.error,
    hint: "use a hostname of letters, digits and hyphens inside the zone, and a dotted IPv4 address",
  },
  LAB_E_DNS_REFUSED: {
    http: 502,
    exit: EXIT.error,
    hint: "add `allow-update { key KEYNAME; };` to the zone in named.conf and reload named",
  },
  LAB_E_DNS_NOTAUTH: {
    http: 502,
    exit: EXIT.error,
    hint: "the DNS server does not serve that zone: check the zone names and the server address",
  },
  LAB_E_DNS_TSIG: {
    http: 502,
    exit: EXIT.error,
    hint: "the TSIG key does not match the server's: compare key name, algorithm and secret with named.conf",
  },
  LAB_E_DNS_BADTIME: {
    http: 502,
    exit: EXIT.error,
    hint: "the clocks of lab and the DNS server differ by more than 5 minutes: synchronise them (NTP)",
  },
  LAB_E_DNS_TIMEOUT: {
    http: 504,
    exit: EXIT.error,
    hint: "is named running on that host:port? try `dig @HOST -p PORT SOA ZONE`",
  },
  LAB_E_DNS_BAD_RESPONSE: {
    http: 502,
    exit: EXIT.error,
    hint: "the DNS server sent an answer lab cannot read: check that host:port is a DNS server",
  },
  LAB_E_DNS_FAILED: {
    http: 502,
    exit: EXIT.error,
    hint: "read named's log for the reason (journalctl -u named, or named's stderr)",
  },
  // ── onboarding and hardware detection ──
  LAB_E_SSH_UNREACHABLE: {
    http: 502,
    exit: EXIT.error,
    hint: "is sshd running on host:port? is the address right? (check --host and --port)",
  },
  LAB_E_SSH_AUTH: {
    http: 400,
    exit: EXIT.error,
    hint: "which key? pass the one in the host's authorized_keys with --identity-file (or load it into ssh-agent), and check --user",
  },
  LAB_E_SSH_HOST_KEY: {
    http: 400,
    exit: EXIT.error,
    hint: "the host's key is not the one pinned: if it was reinstalled, confirm the new fingerprint out of band and pin it again",
  },
  LAB_E_SSH_KEY: {
    http: 400,
    exit: EXIT.error,
    hint: "give an unencrypted OpenSSH/PEM private key file (or its passphrase), or use ssh-agent",
  },
  LAB_E_SSH_COMMAND: {
    http: 502,
    exit: EXIT.error,
    hint: "the SSH connection failed during the command: check the host and retry",
  },
  LAB_E_SSH_UPLOAD: {
    http: 502,
    exit: EXIT.error,
    hint: "check that the target directory exists, is writable by the SSH user and has free space",
  },
  LAB_E_MIGRATE_SOURCE: {
    http: 400,
    exit: EXIT.error,
    hint: "run lab server migrate on the machine that holds the Lab state (its LAB_HOME), in local mode or logged in to its own lab server",
  },
  LAB_E_MIGRATE_PLATFORM: {
    http: 400,
    exit: EXIT.error,
    hint: "migrate to a Linux host of this machine's architecture with a glibc at least as new (the bundle carries native modules built here)",
  },
  LAB_E_MIGRATE_PERMISSION: {
    http: 403,
    exit: EXIT.error,
    hint: "log in as root (--user root): the migration installs under --prefix, writes --remote-home and starts a server",
  },
  LAB_E_MIGRATE_TARGET_IN_USE: {
    http: 409,
    exit: EXIT.error,
    hint: "the host already holds another Lab: pass another --remote-home, or stop and move that Lab away first",
  },
  LAB_E_MIGRATE_START: {
    http: 502,
    exit: EXIT.error,
    hint: "read the server's log on the host (path in the message); the local Lab keeps running, fix the cause and run the migration again",
  },
  LAB_E_MIGRATE_VERIFY: {
    http: 502,
    exit: EXIT.error,
    hint: "the copy did not arrive whole: the migration was rolled back; run it again, and report it if it repeats",
  },
  LAB_E_MIGRATE_CHANGED: {
    http: 409,
    exit: EXIT.error,
    hint: "something wrote to the local Lab during the migration: it was rolled back and nothing was lost; run the migration again",
  },
  LAB_E_MIGRATE_LOCAL_STOP: {
    http: 500,
    exit: EXIT.error,
    hint: "stop the local lab server yourself (kill the pid named), then run the migration again",
  },
  LAB_E_MIGRATE_FAILED: {
    http: 500,
    exit: EXIT.error,
    hint: "the step named failed and the migration was rolled back: fix the cause and run it again",
  },
  LAB_E_DETECT_FAILED: {
    http: 502,
    exit: EXIT.error,
    hint: "install util-linux and procps on the host, or check that /proc is mounted, then onboard again",
  },
  // ── agent, enrolment and join tokens ──
  LAB_E_AGENT_BUILD: {
    http: 500,
    exit: EXIT.error,
    hint: "build the agent executable with `npm run build` (or set LAB_AGENT_DIST to a folder holding lab-agent)",
  },
  LAB_E_JOIN_TOKEN_INVALID: {
    http: 401,
    exit: EXIT.error,
    hint: "the join token is not known to this server: create one with `lab join-token create NAME`",
  },
  LAB_E_JOIN_TOKEN_USED: {
    http: 401,
    exit: EXIT.error,
    hint: "join tokens work once: create a new one with `lab join-token create NAME`",
  },
  LAB_E_JOIN_TOKEN_EXPIRED: {
    http: 401,
    exit: EXIT.error,
    hint: "create a new join token with `lab join-token create NAME` (--ttl-minutes for a longer life)",
  },
  LAB_E_CSR_INVALID: {
    http: 400,
    exit: EXIT.error,
    hint: "send a PEM PKCS#10 request for an ECDSA P-256 key, signed by that key (the agent makes one)",
  },
  LAB_E_CSR_NAME_MISMATCH: {
    http: 403,
    exit: EXIT.error,
    hint: "a join token enrols only the machine it was created for: use that name, or a token for this one",
  },
  LAB_E_AGENT_PROOF_INVALID: {
    http: 401,
    exit: EXIT.error,
    hint: "renewal needs the key enrolled for this name: keep the agent's state dir, or re-enrol with a new join token",
  },
  LAB_E_AGENT_REVOKED: {
    http: 403,
    exit: EXIT.error,
    hint: "a revoked identity never comes back: enrol again with a new key and `lab join-token create NAME`",
  },
  LAB_E_AGENT_REENROL: {
    http: 401,
    exit: EXIT.error,
    hint: "re-enrol with a new join token (`lab join-token create NAME`): the certificate cannot be renewed any more",
  },
  LAB_E_BASTION_UNREACHABLE: {
    http: 503,
    exit: EXIT.error,
    hint: "the machine boots at a remote bastion that is not connected now: check `lab get bastions` and the bastion's service; it keeps serving its machines meanwhile",
  },
  LAB_E_BASTION_OFFLINE: {
    http: 503,
    exit: EXIT.error,
    hint: "this bastion cannot reach the control plane and has nothing cached for this: it serves what it holds; retry once `lab get bastions` shows it connected",
  },
  LAB_E_AGENT_NOT_CONNECTED: {
    http: 409,
    exit: EXIT.error,
    hint: "the agent is not connected to this server: check `lab identity list` and the agent's service on the machine",
  },
  LAB_E_AGENT_DISCONNECTED: {
    http: 502,
    exit: EXIT.error,
    hint: "the agent went away while the command ran: its outcome is unknown, check the machine",
  },
  LAB_E_AGENT_BUSY: {
    http: 429,
    exit: EXIT.error,
    hint: "too many commands are running on that agent: wait for some to finish",
  },
  LAB_E_AGENT_STATE: {
    http: 500,
    exit: EXIT.error,
    hint: "the agent's state dir is unusable: fix its permissions, or empty it and enrol again with a new join token",
  },
  // ── secrets ──
  LAB_E_SECRET_DENIED: {
    http: 403,
    exit: EXIT.error,
    hint: "the machine is not entitled to it: give the machine a label that lists the secret, or call lab::secret() in a class that label applies (`lab show secret NAME` shows the chain)",
  },
  LAB_E_SECRET_NOT_SET: {
    http: 404,
    exit: EXIT.notFound,
    hint: "set it with `lab secret set NAME` (prompt, --from-file FILE or --stdin)",
  },
  LAB_E_SECRET_TAMPERED: {
    http: 500,
    exit: EXIT.error,
    hint: "the stored ciphertext fails its integrity check and was not used: restore with `lab secret recover --from git URL`",
  },
  LAB_E_SECRET_KEY: {
    http: 500,
    exit: EXIT.error,
    hint: "the store's age key is missing, unreadable or not this store's: put the right key file back (LAB_SECRETS_KEY_FILE) or recover with `lab secret recover`",
  },
  LAB_E_SECRET_VALUE: {
    http: 400,
    exit: EXIT.usage,
    hint: "give the value at the prompt, with --from-file FILE or on --stdin (never as an argument)",
  },
  LAB_E_SECRET_STORE_UNREACHABLE: {
    http: 503,
    exit: EXIT.error,
    hint: "no secret store answered: cached values keep working; check `lab secret status` and bring a store back",
  },
  LAB_E_SECRET_NOT_CACHED: {
    http: 503,
    exit: EXIT.error,
    hint: "no store answered and this machine has no cached copy: bring a store back (`lab secret recover --from git URL`)",
  },
  LAB_E_SECRET_CACHE: {
    http: 500,
    exit: EXIT.error,
    hint: "the local secret cache cannot be read with this machine's key: delete it (`lab secret cache --wipe`) and let the agent fetch again",
  },
  LAB_E_SECRET_BACKUP: {
    http: 502,
    exit: EXIT.error,
    hint: "check the backup repository's URL and that git can reach and push to it (`git ls-remote URL`)",
  },
  LAB_E_SECRET_GENERATOR: {
    http: 500,
    exit: EXIT.error,
    hint: "fix the secret's generator settings (generator: password, command or ca; length; command) and run `lab secret rotate NAME`",
  },
  LAB_E_POWER_NOT_CONFIGURED: {
    http: 409,
    exit: EXIT.error,
    hint: "declare how Lab reaches its power: a `power:` section (driver ipmi, redfish, qmp, libvirt, relay or manual) on the server: see docs/power.md",
  },
  LAB_E_POWER_UNSUPPORTED: {
    http: 409,
    exit: EXIT.error,
    hint: "this power driver cannot do that: `lab power status NAME -o wide` lists what it can",
  },
  LAB_E_POWER_UNREACHABLE: {
    http: 502,
    exit: EXIT.error,
    hint: "check the power controller's address, port and that it is switched on (docs/power.md)",
  },
  LAB_E_POWER_TLS: {
    http: 502,
    exit: EXIT.error,
    hint: "Lab could not verify the power controller's certificate: set ca_file (its CA) or fingerprint (openssl x509 -noout -fingerprint -sha256) on its power: section (docs/power.md)",
  },
  LAB_E_POWER_AUTH: {
    http: 502,
    exit: EXIT.error,
    hint: "the power controller refused the credentials: check `user` and the password secret (`lab secret set NAME`)",
  },
  LAB_E_POWER_REFUSED: {
    http: 502,
    exit: EXIT.error,
    hint: "the power controller answered with an error: see the message, and its own log",
  },
  LAB_E_POWER_TOOL_MISSING: {
    http: 500,
    exit: EXIT.error,
    hint: "install the tool the driver runs (ipmitool, virsh): apt-get install -y ipmitool libvirt-clients",
  },
  LAB_E_POWER_TIMEOUT: {
    http: 504,
    exit: EXIT.error,
    hint: "the machine did not reach the state in time: check it by hand, then retry (a longer --timeout may help)",
  },
  LAB_E_PROVIDER_UNKNOWN: {
    http: 400,
    exit: EXIT.usage,
    hint: "use one of the providers Lab ships: ssh, baremetal, libvirt, aws (docs/providers.md)",
  },
  LAB_E_PROVIDER_NOT_CONFIGURED: {
    http: 409,
    exit: EXIT.error,
    hint: "give the provider what it needs to reach its peer (docs/providers.md lists each provider's settings)",
  },
  LAB_E_PROVIDER_UNREACHABLE: {
    http: 502,
    exit: EXIT.error,
    hint: "check the provider's address or socket and that its daemon runs (docs/providers.md)",
  },
  LAB_E_PROVIDER_AUTH: {
    http: 502,
    exit: EXIT.error,
    hint: "the provider refused the credentials: check the key, user or access key it was given",
  },
  LAB_E_PROVIDER_REFUSED: {
    http: 502,
    exit: EXIT.error,
    hint: "the provider answered with an error: see the message; `lab diff server NAME` shows what it holds now",
  },
  LAB_E_PROVIDER_TOOL_MISSING: {
    http: 500,
    exit: EXIT.error,
    hint: "install the tool the provider runs (the message names the apt-get command)",
  },
  LAB_E_PROVIDER_SIZE: {
    http: 400,
    exit: EXIT.error,
    hint: "write sizes as 8GB, 512MB or 2TB (a bare number is GB) in `sizes:`",
  },
  LAB_E_PROVIDER_UNSUPPORTED: {
    http: 409,
    exit: EXIT.error,
    hint: "this provider cannot do that to a server (docs/providers.md says what each one can); change the machine by hand or the spec to match",
  },
  LAB_E_NOT_CONFIRMED: {
    http: 400,
    exit: EXIT.error,
    hint: "answer y to proceed, or pass --yes when no one is at a terminal",
  },
  LAB_E_PRICES: {
    http: 400,
    exit: EXIT.error,
    hint: "fix the price table at the place named (`prices:` applied with lab apply -f, or the file given to --prices); docs/providers.md shows its shape",
  },
  LAB_W_TARGET_EMPTY: { http: 200, exit: EXIT.ok, hint: "check the target's names and values" },
  LAB_W_SIZE_CONFLICT: {
    http: 200,
    exit: EXIT.ok,
    hint: "set `size:` on the server to choose one explicitly",
  },
  LAB_E_BUILD: {
    http: 400,
    exit: EXIT.error,
    hint: "give the label puppet_classes, point --modulepath at their modules and --from at a base image with Puppet (scripts/build-base-image.sh)",
  },
  LAB_E_PUPPET_ENVIRONMENT: {
    http: 400,
    exit: EXIT.error,
    hint: "Puppet environments are lower-case letters, digits and _: set the server's attributes.puppet_environment",
  },
  LAB_E_AUTOSIGN_REFUSED: {
    http: 403,
    exit: EXIT.error,
    hint: "give the agent a fresh token for its certname (`lab join-token create NAME`) in csr_attributes.yaml as custom_attributes: {challengePassword: TOKEN}, then re-run it (puppetserver keeps an unsigned CSR: `puppetserver ca clean --certname NAME` or delete it)",
  },
  LAB_E_PUPPET_REPORT: {
    http: 400,
    exit: EXIT.error,
    hint: "send a Puppet run report (the http report processor's YAML, or its JSON) with host, time and status",
  },
  LAB_E_KUBE_INVALID: {
    http: 400,
    exit: EXIT.error,
    hint: "fix the fields at the paths listed (checked offline against the Kubernetes OpenAPI schema; nothing was sent)",
  },
  LAB_E_KUBE_UNKNOWN_KIND: {
    http: 400,
    exit: EXIT.error,
    hint: "give apiVersion and kind of a built-in Kubernetes object (e.g. apps/v1 Deployment); custom resources are not validated offline",
  },
  LAB_E_KUBECONFIG: {
    http: 400,
    exit: EXIT.error,
    hint: "give the cluster kubeconfig_secret: PATH and store the file with `lab secret set PATH --from-file KUBECONFIG`",
  },
  LAB_E_KUBE_UNREACHABLE: {
    http: 504,
    exit: EXIT.error,
    hint: "check the API server's address in the kubeconfig, that it is up, and that this host can reach it (port 6443 by default)",
  },
  LAB_E_KUBE_UNAUTHORIZED: {
    http: 502,
    exit: EXIT.error,
    hint: "the API server did not accept the kubeconfig's credentials: store a current kubeconfig in the cluster's secret",
  },
  LAB_E_KUBE_FORBIDDEN: {
    http: 502,
    exit: EXIT.error,
    hint: "the kubeconfig's user lacks RBAC rights for this: grant get/list/create/patch on deployments in the namespace (kubectl auth can-i)",
  },
  LAB_E_KUBE_CONFLICT: {
    http: 409,
    exit: EXIT.error,
    hint: "the object changed or exists and is not Lab's: run the command again, or delete/rename the other object",
  },
  LAB_E_KUBE_API: {
    http: 502,
    exit: EXIT.error,
    hint: "the API server refused the request: its message is shown; check the cluster's events (kubectl get events)",
  },
  LAB_E_DEPLOY_IMAGE: {
    http: 400,
    exit: EXIT.error,
    hint: "build the label's image first (`lab build --label L`) or pass --image REF",
  },
  LAB_E_CLUSTER_CONFLICT: {
    http: 409,
    exit: EXIT.error,
    hint: "name the servers of one cluster only; a machine that belongs to another cluster must be uninstalled (k3s-uninstall.sh) first",
  },
  LAB_E_CLUSTER_NOT_FOUND: {
    http: 404,
    exit: EXIT.notFound,
    hint: "drop --join to create the cluster, or name a server that runs it",
  },
  LAB_E_K3S_BINARY: {
    http: 400,
    exit: EXIT.usage,
    hint: "pass --k3s-binary PATH (a k3s release binary from github.com/k3s-io/k3s/releases) or --k3s-binary standin for the test stand-in",
  },
  LAB_W_ALERT_UNDEFINED: {
    http: 200,
    exit: EXIT.ok,
    hint: "define it under `alerts:` with a condition (a target is optional) or use a built-in name",
  },
  LAB_W_SECRET_UNDEFINED: {
    http: 200,
    exit: EXIT.ok,
    hint: "define the secret under `secrets:` so its type and rotation are known",
  },
} satisfies Record<string, CodeInfo>;

export type LabCode = keyof typeof CATALOGUE;

/** Where in the user's files something is. Lines and columns count from 1. */
export interface Location {
  file: string;
  line: number;
  column: number;
}

export function formatLocation(loc: Location | undefined): string {
  return loc ? `${loc.file}:${loc.line}:${loc.column}` : "";
}

/** A validation finding: an error blocks an apply, a warning does not. */
export interface Diagnostic {
  code: LabCode;
  severity: "error" | "warning";
  message: string;
  location?: Location;
  /** Other places involved (the first definition of a duplicate, …). */
  related?: Location[];
}

export function diagnostic(
  code: LabCode,
  message: string,
  location?: Location,
  related?: Location[],
): Diagnostic {
  const severity = code.startsWith("LAB_W_") ? "warning" : "error";
  return { code, severity, message, location, ...(related?.length ? { related } : {}) };
}

export class LabError extends Error {
  readonly code: LabCode;
  readonly diagnostics: Diagnostic[];

  constructor(code: LabCode, message: string, diagnostics: Diagnostic[] = []) {
    super(message);
    this.name = "LabError";
    this.code = code;
    this.diagnostics = diagnostics;
  }

  get httpStatus(): number {
    return CATALOGUE[this.code].http;
  }

  get exitCode(): number {
    return CATALOGUE[this.code].exit;
  }

  get hint(): string {
    return CATALOGUE[this.code].hint;
  }
}

export function isLabError(e: unknown): e is LabError {
  return e instanceof LabError;
}

export function notFound(kind: string, name: string, known: Iterable<string>): LabError {
  const suggestion = didYouMean(name, known);
  return new LabError(
    "LAB_E_NOT_FOUND",
    `${kind} "${name}" not found${suggestion ? ` (did you mean "${suggestion}"?)` : ""}`,
  );
}

/** The closest candidate within a small edit distance, for "did you mean" hints. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

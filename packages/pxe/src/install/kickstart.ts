/**
 * Fedora / Rocky / RHEL kickstart (`ks.cfg`). The disk is chosen at install time by %pre (NVMe
 * first, never USB/removable), which writes the storage commands to /tmp/lab-part.ks for
 * `%include`. On reprovision %pre reuses the EFI and /boot partitions and labvg, recreating the
 * system volumes and keeping the preserved ones. Progress goes to Lab at every stage; the
 * installer's logs go to Lab's syslog listener (`logging --host`, which Anaconda sends over TCP).
 */
import { BOOT_LABEL, BOOT_MIB, EFI_MIB, labVolumes, VOLUME_GROUP } from "./layout.js";
import { shellLibrary, shQuote } from "./shell.js";
import type { InstallContext } from "./types.js";
import { checkInstallContext, fqdn } from "./validate.js";

/** Where %pre writes the storage commands (`%include`d by the main file). */
export const PART_INCLUDE = "/tmp/lab-part.ks";

const EFI_PARTTYPE = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
const BIOSBOOT_PARTTYPE = "21686148-6449-6e6f-744e-656564454649";

/** The %pre body: choose the disk, then write the fresh or the reprovision storage layout. */
export function kickstartPreScript(ctx: InstallContext): string {
  const volumes = labVolumes(ctx.preserve);
  const table = volumes
    .map(
      (v) =>
        `${v.mount} ${v.name} ${v.sizeMiB} ${ctx.preserve.includes(v.mount) ? 1 : 0} ${v.grow ? 1 : 0} ${v.fstype}`,
    )
    .join("\n");
  const append = ctx.console ? ` --append=\\"console=tty0 console=${ctx.console}\\"` : "";
  return `${shellLibrary(ctx, { target: "/mnt/sysroot", runner: "chroot-already" })}
OUT="\${LAB_PART_KS:-${PART_INCLUDE}}"
REPROVISION=${ctx.reprovision ? 1 : 0}
VG=${VOLUME_GROUP}

lab_progress booted ok "Anaconda started"
DISK=$(lab_disk) || {
  lab_progress partitioning failed "no install disk found (wanted $LAB_DISK_WANTED)"
  exit 1
}
P=$(lab_part_prefix "$DISK")
EFI=0
[ -d "$LAB_SYSFS/firmware/efi" ] && EFI=1

# mount name sizeMiB keep grow fstype
cat >/tmp/lab-volumes <<'LAB_EOF'
${table}
LAB_EOF

# Prints logvol commands creating every volume (or, with "missing", those labvg lacks),
# scaled down together when the space is smaller than their sum.
lab_new_volumes() {
  space=$1
  total=0
  while read -r mnt name size keep grow fs; do
    if [ "$2" = missing ] && lvm lvs "$VG/$name" >/dev/null 2>&1; then continue; fi
    total=$((total + size))
  done </tmp/lab-volumes
  while read -r mnt name size keep grow fs; do
    if [ "$2" = missing ] && lvm lvs "$VG/$name" >/dev/null 2>&1; then continue; fi
    if [ "$total" -gt "$space" ]; then size=$((size * space / total)); fi
    [ "$size" -ge 256 ] || size=256
    extra=
    [ "$grow" = 1 ] && extra=" --grow"
    echo "logvol $mnt --vgname=$VG --name=$name --fstype=$fs --size=$size$extra"
  done </tmp/lab-volumes
}

REUSE=0
if [ "$REPROVISION" = 1 ] && lvm vgs "$VG" >/dev/null 2>&1; then
  pvs_on=$(lvm pvs --noheadings -o pv_name,vg_name 2>/dev/null | awk -v vg="$VG" '$2 == vg { print $1 }')
  case $pvs_on in
    /dev/"$P"[0-9]*) ;;
    *)
      lab_progress partitioning failed "$VG is not on $DISK alone: refusing to touch the preserved volumes"
      exit 1
      ;;
  esac
  [ "$(printf '%s\\n' "$pvs_on" | wc -l | tr -d ' ')" = 1 ] || {
    lab_progress partitioning failed "$VG spans several disks: refusing to touch the preserved volumes"
    exit 1
  }
  REUSE=1
fi

if [ "$REUSE" = 1 ]; then
  parts=$(lsblk -nPpo NAME,PARTTYPE,LABEL "/dev/$DISK" 2>/dev/null)
  part_where() {
    printf '%s\\n' "$parts" | grep -i "$1" | sed -n 's/^NAME="\\([^"]*\\)".*/\\1/p' | head -n 1
  }
  EFIP=$(part_where 'PARTTYPE="${EFI_PARTTYPE}"')
  BIOSP=$(part_where 'PARTTYPE="${BIOSBOOT_PARTTYPE}"')
  BOOTP=$(part_where 'LABEL="${BOOT_LABEL}"')
  if [ -z "$BOOTP" ] || { [ "$EFI" = 1 ] && [ -z "$EFIP" ]; } || { [ "$EFI" = 0 ] && [ -z "$BIOSP" ]; }; then
    lab_progress partitioning failed "the partitions of a Lab install are not all on $DISK: refusing to reprovision"
    exit 1
  fi
  free=$(lvm vgs --noheadings --units m --nosuffix -o vg_free "$VG" 2>/dev/null | tr -d ' ')
  free=\${free%%.*}
  {
    echo "ignoredisk --only-use=$DISK"
    if [ "$EFI" = 1 ]; then
      echo "part /boot/efi --onpart=\${EFIP#/dev/} --fstype=efi"
    else
      echo "part biosboot --onpart=\${BIOSP#/dev/} --fstype=biosboot"
    fi
    echo "part /boot --onpart=\${BOOTP#/dev/} --fstype=ext4 --label=${BOOT_LABEL}"
    echo "volgroup $VG --useexisting --noformat"
    while read -r mnt name size keep grow fs; do
      lvm lvs "$VG/$name" >/dev/null 2>&1 || continue
      if [ "$keep" = 1 ]; then
        echo "logvol $mnt --vgname=$VG --name=$name --useexisting --noformat"
      else
        echo "logvol $mnt --vgname=$VG --name=$name --useexisting --fstype=$fs"
      fi
    done </tmp/lab-volumes
    lab_new_volumes "\${free:-0}" missing
    echo "bootloader --location=mbr --boot-drive=$DISK${append}"
  } >"$OUT"
  lab_progress partitioning running "reprovisioning $DISK, keeping the preserved volumes"
else
  size=$(cat "$LAB_SYSFS/block/$DISK/size" 2>/dev/null)
  space=$(( (\${size:-0} / 2048 - ${EFI_MIB + BOOT_MIB} - 64) * 97 / 100 ))
  if [ "$space" -lt 4096 ]; then
    lab_progress partitioning failed "$DISK is too small for a Lab install"
    exit 1
  fi
  {
    echo "ignoredisk --only-use=$DISK"
    echo "zerombr"
    echo "clearpart --all --initlabel --drives=$DISK --disklabel=gpt"
    if [ "$EFI" = 1 ]; then
      echo "part /boot/efi --fstype=efi --size=${EFI_MIB} --ondisk=$DISK"
    else
      echo "part biosboot --fstype=biosboot --size=1 --ondisk=$DISK"
    fi
    echo "part /boot --fstype=ext4 --size=${BOOT_MIB} --label=${BOOT_LABEL} --ondisk=$DISK"
    echo "part pv.01 --size=1 --grow --ondisk=$DISK"
    echo "volgroup $VG pv.01"
    lab_new_volumes "$space" all
    echo "bootloader --location=mbr --boot-drive=$DISK${append}"
  } >"$OUT"
  lab_progress partitioning running "installing to $DISK"
fi
`;
}

/** The %post (chroot) body: join token, SSH hardening, sudo, SysRq, boot order, agent. */
function kickstartPostScript(ctx: InstallContext): string {
  const admin = ctx.adminUser ?? "lab";
  return `${shellLibrary(ctx, { target: "", runner: "chroot-already" })}
lab_progress configuring running "configuring the system"
lab_write_join_token "" || {
  lab_progress configuring failed "could not write the join token"
  exit 1
}
mkdir -p /etc/ssh/sshd_config.d
cat >/etc/ssh/sshd_config.d/40-lab.conf <<'LAB_EOF'
# Lab: keys only; root by key only.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
LAB_EOF
chmod 0600 /etc/ssh/sshd_config.d/40-lab.conf
printf '%s\\n' ${shQuote(`${admin} ALL=(ALL) NOPASSWD: ALL`)} >/etc/sudoers.d/lab
chmod 0440 /etc/sudoers.d/lab
printf 'kernel.sysrq = 1\\n' >/etc/sysctl.d/90-lab-sysrq.conf
lab_efi_network_first
lab_agent_install || {
  lab_progress configuring failed "the lab agent did not install"
  exit 1
}
`;
}

function section(header: string, body: string): string {
  return `${header}\n${body.replace(/\n+$/, "")}\n%end\n`;
}

/** Renders ks.cfg for one machine. */
export function renderKickstart(input: InstallContext): string {
  const ctx = checkInstallContext(input);
  const admin = ctx.adminUser ?? "lab";
  const keyboard = "us";
  const lines = [
    `# Lab kickstart for ${fqdn(ctx)} (${ctx.mac}), image ${ctx.image.name}: generated by Lab, do not edit.`,
    "text",
  ];
  if (ctx.image.repo && /^https?:\/\//.test(ctx.image.repo)) lines.push(`url --url=${ctx.image.repo}`);
  lines.push(
    `lang ${ctx.locale}`,
    `keyboard --vckeymap=${keyboard} --xlayouts=${keyboard}`,
    `timezone ${ctx.timezone} --utc`,
    `network --bootproto=dhcp --hostname=${fqdn(ctx)} --activate`,
    "rootpw --lock",
    `user --name=${admin} --groups=wheel --lock`,
  );
  for (const key of ctx.sshAuthorizedKeys) {
    lines.push(`sshkey --username=root "${key}"`, `sshkey --username=${admin} "${key}"`);
  }
  if (ctx.syslog) lines.push(`logging --host=${ctx.syslog.host} --port=${ctx.syslog.port}`);
  lines.push(
    "selinux --enforcing",
    "firewall --enabled --service=ssh",
    "services --enabled=sshd,chronyd",
    "firstboot --disable",
    "skipx",
    `%include ${PART_INCLUDE}`,
    "reboot",
    "",
  );
  const preInstall = `${shellLibrary(ctx, { target: "/mnt/sysroot", runner: "chroot-already" })}
lab_progress installing running "installing packages"
`;
  const complete = `${shellLibrary(ctx, { target: "/mnt/sysroot", runner: "chroot-already" })}
lab_progress complete ok "installed, rebooting"
`;
  const onError = `${shellLibrary(ctx, { target: "/mnt/sysroot", runner: "chroot-already" })}
lab_progress "$(lab_stage)" failed "Anaconda stopped with an error"
`;
  return [
    lines.join("\n"),
    section("%pre --interpreter=/bin/sh --erroronfail --log=/tmp/lab-pre.log", kickstartPreScript(ctx)),
    section("%pre-install --interpreter=/bin/sh --log=/tmp/lab-pre-install.log", preInstall),
    section(
      "%packages",
      [
        "@^minimal-environment",
        "openssh-server",
        "curl",
        "chrony",
        "sudo",
        "efibootmgr",
        "lvm2",
        "xfsprogs",
      ].join("\n"),
    ),
    section("%post --interpreter=/bin/sh --erroronfail --log=/root/lab-post.log", kickstartPostScript(ctx)),
    section("%post --nochroot --interpreter=/bin/sh --log=/tmp/lab-post-complete.log", complete),
    section("%onerror --interpreter=/bin/sh", onError),
  ].join("\n");
}

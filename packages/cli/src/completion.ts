/**
 * Shell completion: commands come from the commander tree, object names from the state
 * (through the hidden `lab __complete KIND` command) so they are always current.
 */

import { KINDS, LabError, SECTION } from "@lab/core";
import type { Command } from "commander";

export const SHELLS = ["bash", "zsh", "fish"];

const KIND_WORDS: Record<string, string> = {
  get: [...KINDS.map((k) => SECTION[k]), "events"].join(" "),
  show: "server label group alert secret",
  targets: "server",
  describe: "server",
  diff: "server",
  delete: KINDS.join(" "),
};

export function completionScript(shell: string, program: Command): string {
  const commands = program.commands
    .map((c) => c.name())
    .filter((n) => !n.startsWith("_"))
    .join(" ");
  const state = program.commands.find((c) => c.name() === "state");
  const stateCommands = state?.commands.map((c) => c.name()).join(" ") ?? "";
  if (shell === "bash" || shell === "zsh") return bashScript(commands, stateCommands, shell === "zsh");
  if (shell === "fish") return fishScript(program, stateCommands);
  throw new LabError("LAB_E_USAGE", `no completion for "${shell}": choose one of ${SHELLS.join(", ")}`);
}

function bashScript(commands: string, stateCommands: string, zsh: boolean): string {
  const cases = Object.entries(KIND_WORDS)
    .map(
      ([cmd, kinds]) =>
        `    ${cmd})\n      if [ "$COMP_CWORD" -eq 2 ]; then COMPREPLY=($(compgen -W "${kinds}" -- "$cur"));\n      elif [ "$COMP_CWORD" -eq 3 ]; then COMPREPLY=($(compgen -W "$(lab __complete "\${COMP_WORDS[2]}" 2>/dev/null)" -- "$cur")); fi ;;`,
    )
    .join("\n");
  return `${zsh ? "#compdef lab\nautoload -U +X bashcompinit && bashcompinit\n" : ""}# lab completion for ${zsh ? "zsh" : "bash"}: source this file, e.g. from ~/.${zsh ? "zshrc" : "bashrc"}
_lab() {
  local cur prev cmd
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmd="\${COMP_WORDS[1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${commands}" -- "$cur")); return
  fi
  case "$prev" in
    -o|--output) COMPREPLY=($(compgen -W "table wide json yaml" -- "$cur")); return ;;
    -f|--filename) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    -l|--label) COMPREPLY=($(compgen -W "$(lab __complete labels 2>/dev/null)" -- "$cur")); return ;;
    --group) COMPREPLY=($(compgen -W "$(lab __complete groups 2>/dev/null)" -- "$cur")); return ;;
    --exclude) COMPREPLY=($(compgen -W "$(lab __complete servers 2>/dev/null)" -- "$cur")); return ;;
  esac
  case "$cmd" in
${cases}
    state) [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "${stateCommands}" -- "$cur")) ;;
    completion) COMPREPLY=($(compgen -W "${SHELLS.join(" ")}" -- "$cur")) ;;
  esac
}
complete -F _lab lab
`;
}

function fishScript(program: Command, stateCommands: string): string {
  const lines = ["# lab completion for fish: save as ~/.config/fish/completions/lab.fish"];
  for (const c of program.commands) {
    if (c.name().startsWith("_")) continue;
    lines.push(
      `complete -c lab -f -n '__fish_use_subcommand' -a ${c.name()} -d ${JSON.stringify(c.description())}`,
    );
  }
  for (const [cmd, kinds] of Object.entries(KIND_WORDS)) {
    lines.push(
      `complete -c lab -f -n '__fish_seen_subcommand_from ${cmd}; and test (count (commandline -opc)) -eq 2' -a '${kinds}'`,
    );
    lines.push(
      `complete -c lab -f -n '__fish_seen_subcommand_from ${cmd}; and test (count (commandline -opc)) -eq 3' -a '(lab __complete (commandline -opc)[3] 2>/dev/null)'`,
    );
  }
  lines.push(`complete -c lab -f -n '__fish_seen_subcommand_from state' -a '${stateCommands}'`);
  lines.push(`complete -c lab -f -n '__fish_seen_subcommand_from completion' -a '${SHELLS.join(" ")}'`);
  lines.push("complete -c lab -s o -l output -x -a 'table wide json yaml'");
  lines.push("complete -c lab -s l -l label -x -a '(lab __complete labels 2>/dev/null)'");
  lines.push("complete -c lab -l group -x -a '(lab __complete groups 2>/dev/null)'");
  lines.push("complete -c lab -l exclude -x -a '(lab __complete servers 2>/dev/null)'");
  return `${lines.join("\n")}\n`;
}

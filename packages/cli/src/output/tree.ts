/** Box-drawing trees, as the design's `show` views draw them. */

export function treeLines(items: string[], indent = "  "): string[] {
  return items.map((item, i) => `${indent}${i === items.length - 1 ? "└──" : "├──"} ${item}`);
}

/** `[a, b, c]` */
export function bracketList(items: string[]): string {
  return `[${items.join(", ")}]`;
}

/** One line of cells as Ink text, cut to the width (never wrapped: wrapping would move every row below). */
import { Text } from "ink";
import type { Cell } from "./lines.js";
import type { Theme } from "./theme.js";

export function LineText({
  cells,
  width,
  theme,
  selected = false,
}: {
  cells: Cell[];
  width: number;
  theme: Theme;
  selected?: boolean;
}) {
  const parts: { c: Cell; text: string }[] = [];
  let left = width;
  for (const c of cells) {
    if (left <= 0) break;
    const chars = [...c.text];
    const text = chars.length > left ? `${chars.slice(0, Math.max(0, left - 1)).join("")}…` : c.text;
    parts.push({ c, text });
    left -= [...text].length;
  }
  // A selected line is padded so the inverse bar spans the width.
  if (selected && left > 0) parts.push({ c: { text: "" }, text: " ".repeat(left) });
  return (
    <Text inverse={selected} wrap="truncate">
      {parts.map(({ c, text }, i) => (
        <Text key={i} color={selected ? undefined : c.tone && theme.color(c.tone)} bold={c.bold}>
          {text}
        </Text>
      ))}
    </Text>
  );
}

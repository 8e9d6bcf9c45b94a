/**
 * Windowed rendering: only the rows that fit are ever turned into elements, so a 10,000-row
 * list costs what a 20-row one does. Pure functions of (cursor, height, total).
 */

/** The first row shown, keeping the cursor inside the window and moving it as little as possible. */
export function windowStart(cursor: number, height: number, total: number, previousStart: number): number {
  if (total <= height) return 0;
  let start = Math.min(Math.max(previousStart, 0), total - height);
  if (cursor < start) start = cursor;
  else if (cursor >= start + height) start = cursor - height + 1;
  return Math.max(0, Math.min(start, total - height));
}

/** The cursor after a move, clamped to the list. */
export function moveCursor(cursor: number, delta: number, total: number): number {
  if (total === 0) return 0;
  return Math.max(0, Math.min(total - 1, cursor + delta));
}

/**
 * Go's text/tabwriter (left-aligned, no flags), which docker-machine's `ls` table and codegangsta/cli's help
 * pages are written through: scripts and eyes that read docker-machine's columns get the same bytes.
 * A cell ends at a tab; a line's last cell belongs to no column. Consecutive lines that have a cell in a column
 * form a block, and the block's cells are padded to the widest one plus `padding` (at least `minwidth`). With
 * '\t' as the pad character the padding is tabs of `tabwidth` columns (Writer.writePadding).
 */
export interface TabwriterOptions {
  minwidth: number
  tabwidth: number
  padding: number
  padchar: ' ' | '\t'
}

interface Cell {
  text: string
  width: number
}

export function tabwrite(text: string, options: TabwriterOptions): string {
  const lines: Cell[][] = text
    .split('\n')
    .map((line) => line.split('\t').map((cell) => ({text: cell, width: [...cell].length})))
  const widths: number[] = []
  let out = ''

  const padding = (textWidth: number, cellWidth: number): string => {
    if (options.padchar === ' ') return ' '.repeat(cellWidth - textWidth)
    const rounded = Math.ceil(cellWidth / options.tabwidth) * options.tabwidth
    return '\t'.repeat(Math.ceil((rounded - textWidth) / options.tabwidth))
  }
  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      lines[i]!.forEach((cell, j) => {
        out += cell.text
        if (j < widths.length) out += padding(cell.width, widths[j]!)
      })
      if (i + 1 < lines.length) out += '\n'
    }
  }
  // Writer.format: find each column block, fix its width, then format the columns to its right.
  const format = (line0: number, line1: number) => {
    const column = widths.length
    for (let at = line0; at < line1; at++) {
      if (column >= lines[at]!.length - 1) continue
      writeLines(line0, at)
      line0 = at
      let width = options.minwidth
      for (; at < line1 && column < lines[at]!.length - 1; at++)
        width = Math.max(width, lines[at]![column]!.width + options.padding)
      widths.push(width)
      format(line0, at)
      widths.pop()
      line0 = at // the line that ended the block has no cell in this column: skipping it is safe
    }
    writeLines(line0, line1)
  }
  format(0, lines.length)
  return out
}

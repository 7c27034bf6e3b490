// Turn a byte stream into whole lines without splitting a UTF-8 character or holding
// an unbounded partial line in memory.

import { StringDecoder } from 'string_decoder'

const MAX_LINE = 64 * 1024

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8')
  private partial = ''

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer | string): void {
    const text = this.partial + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk))
    const parts = text.split('\n')
    this.partial = parts.pop() ?? ''
    for (const p of parts) this.onLine(p.replace(/\r$/, ''))
    // A program that prints megabytes without a newline (a progress bar) is shown in pieces.
    while (this.partial.length > MAX_LINE) {
      this.onLine(this.partial.slice(0, MAX_LINE))
      this.partial = this.partial.slice(MAX_LINE)
    }
  }

  end(): void {
    const rest = this.partial + this.decoder.end()
    this.partial = ''
    if (rest !== '') this.onLine(rest.replace(/\r$/, ''))
  }
}

/** The last `size` items pushed. */
export class Tail {
  private readonly items: string[] = []
  constructor(private readonly size: number) {}
  push(item: string): void {
    this.items.push(item)
    if (this.items.length > this.size) this.items.shift()
  }
  get lines(): string[] {
    return [...this.items]
  }
}

import Table from 'cli-table3';

/** One line of a benchmark's result table: a figure for information (no `met`) or a judged target. */
export interface Row {
  name: string;
  value: string;
  target: string;
  met?: boolean;
}

/**
 * What a benchmark measured, in the order it measured it. Each figure is logged as it comes, so a
 * run that dies half-way still shows what it had; the table and the verdict come at the end.
 */
export class Scorecard {
  readonly rows: Row[] = [];

  constructor(private readonly log: (line: string) => void) {}

  readonly info = (name: string, value: string): void => {
    this.rows.push({ name, value, target: '(for information)' });
    this.log(`info   ${name}: ${value}`);
  };

  readonly target = (name: string, value: string, goal: string, met: boolean): void => {
    this.rows.push({ name, value, target: goal, met });
    this.log(`${met ? 'met   ' : 'MISSED'} ${name}: ${value} (target ${goal})`);
  };

  get targets(): Row[] {
    return this.rows.filter((r) => r.met !== undefined);
  }

  get infos(): { name: string; value: string }[] {
    return this.rows.filter((r) => r.met === undefined).map(({ name, value }) => ({ name, value }));
  }

  /** The rows as a table on stdout, without colour codes when stdout is no terminal (CI logs). */
  printTable(rows: Row[], colWidths: number[]): void {
    const plain = !process.stdout.isTTY;
    const table = new Table({ head: ['measurement', 'result', 'target', ''], wordWrap: true, colWidths, style: plain ? { head: [], border: [] } : {} });
    for (const r of rows) table.push([r.name, r.value, r.target, r.met === undefined ? '' : r.met ? 'met' : 'MISSED']);
    console.log(table.toString());
  }

  /** Prints how many targets were met; the exit status is 1 when one was missed. */
  verdict(): void {
    const missed = this.targets.filter((r) => !r.met).length;
    console.log(`${this.targets.length - missed} passed, ${missed} failed`);
    process.exitCode = missed ? 1 : 0;
  }
}

import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface ChartPoint {
  t: number;
  series: string;
  mbit: number;
}

/** Per-WAN and total throughput over time, with the failure and the recovery marked; SVG via Vega-Lite. */
export async function renderChart(points: ChartPoint[], marks: { failAt: number; restoreAt: number }, title: string): Promise<string> {
  const spec: TopLevelSpec = {
    title,
    width: 640,
    height: 300,
    layer: [
      {
        data: { values: points },
        mark: { type: 'line', interpolate: 'step-before' },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'seconds' },
          y: { field: 'mbit', type: 'quantitative', title: 'Mbit/s (WAN wire rate, upload)' },
          color: { field: 'series', type: 'nominal', title: null },
        },
      },
      {
        data: { values: [{ t: marks.failAt, what: 'wan1 down' }, { t: marks.restoreAt, what: 'wan1 back' }] },
        layer: [
          { mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' }, encoding: { x: { field: 't', type: 'quantitative' } } },
          { mark: { type: 'text', align: 'left', dx: 4, dy: -140, color: 'gray' }, encoding: { x: { field: 't', type: 'quantitative' }, text: { field: 'what' } } },
        ],
      },
    ],
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

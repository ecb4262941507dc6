/**
 * The source layers, top to bottom (docs/contributing.md). A folder imports only folders below it;
 * folders on one line do not import each other. Type-only imports count (tsPreCompilationDeps).
 * `npm run check:layers` runs this in CI and fails on an upward import, a sideways one, or a cycle.
 */
const LAYERS = [
  ['cli'],
  ['daemon'],
  ['engine'],
  ['status', 'doctor'],
  ['plan'],
  ['router'],
  ['frr'],
  ['render'],
  ['config'],
  ['model'],
  ['base'],
];

const folders = (names) => `^src/(${names.join('|')})/`;
const layerRules = LAYERS.flatMap((layer, i) => {
  const above = LAYERS.slice(0, i).flat();
  return layer.map((name) => ({
    name: `${name}-imports-down-only`,
    comment: `src/${name}/ may import only the layers below it (${LAYERS.slice(i + 1).flat().join(', ')})${layer.length > 1 ? `, not ${layer.filter((n) => n !== name).join(', ')}` : ''}`,
    severity: 'error',
    from: { path: folders([name]) },
    to: { path: folders([...above, ...layer.filter((n) => n !== name)]) },
  }));
});

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-cycles',
      comment: 'a module that reaches itself through its imports: split it, or move the shared part down',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'every-module-in-a-layer',
      comment: `src/ holds only the layer folders (${LAYERS.flat().join(', ')})`,
      severity: 'error',
      from: { path: '^src/', pathNot: folders(LAYERS.flat()) },
      to: {},
    },
    {
      name: 'src-not-to-test',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^test/' },
    },
    {
      name: 'no-unresolvable',
      comment: 'an import that resolves to nothing (a moved file)',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};

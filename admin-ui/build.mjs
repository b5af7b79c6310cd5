// Builds the panel into dist/ (or the folder given as the first argument, which scripts/test uses to check
// that the committed dist/ is what the sources build to): one JavaScript and one CSS bundle with content
// hashes in their names (served with a year-long cache) and index.html pointing at them (served with
// no-cache). The binary embeds dist/.
import * as esbuild from 'esbuild';
import { readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ? resolve(process.argv[2]) : join(here, 'dist');
rmSync(out, { recursive: true, force: true });
mkdirSync(`${out}/assets`, { recursive: true });
const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: ['src/main.jsx', 'src/app.css'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2020',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: '[name]-[hash]',
  outdir: `${out}/assets`,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
});
const built = {};
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  if (meta.entryPoint) built[basename(meta.entryPoint)] = '/admin/assets/' + basename(file);
}
const html = readFileSync(join(here, 'src', 'index.html'), 'utf8')
  .replace('%MAIN_JS%', built['main.jsx'])
  .replace('%APP_CSS%', built['app.css']);
writeFileSync(`${out}/index.html`, html);
console.log('admin-ui built:', Object.values(built).join(', '));

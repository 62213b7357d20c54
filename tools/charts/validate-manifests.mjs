#!/usr/bin/env node
// Validates rendered Kubernetes manifests (helm template output) against the Kubernetes and
// prometheus-operator schemas: each object through its kubernetes-models class (`validate()`: types,
// required fields, formats, enums), and every field name against the model's TypeScript interface,
// because those validators accept unknown fields and the API server silently drops them (a typo in
// `unhealthyPodEvictionPolicy` would just vanish). Prints one line per problem; exit 1 if any.
//
//   node tools/charts/validate-manifests.mjs rendered.yaml [more.yaml...]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const require = createRequire(import.meta.url);
const ts = require('typescript');
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** apiVersion/kind -> the kubernetes-models module that models it. */
function modulePath(apiVersion, kind) {
  if (apiVersion === 'monitoring.coreos.com/v1') return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** One TypeScript program holding the interface of every kind in the files, for the field-name check. */
function interfaceTypes(kinds) {
  const entry = join(root, 'tools', 'charts', '__manifest_types__.ts');
  const lines = kinds.map(({ apiVersion, kind }, i) => `import type { I${kind} as T${i} } from '${modulePath(apiVersion, kind)}';\nexport type K${i} = T${i};`);
  const text = lines.join('\n');
  const options = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, skipLibCheck: true, noEmit: true, types: [] };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.readFile = (name) => (name === entry ? text : readFile(name));
  host.fileExists = (name) => name === entry || fileExists(name);
  host.getSourceFile = ((original) => (name, version) => (name === entry ? ts.createSourceFile(name, text, version) : original(name, version)))(host.getSourceFile.bind(host));
  const program = ts.createProgram([entry], options, host);
  const unresolved = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === entry);
  if (unresolved.length > 0) throw new Error(unresolved.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n'));
  const checker = program.getTypeChecker();
  const aliases = program.getSourceFile(entry).statements.filter(ts.isTypeAliasDeclaration);
  return { checker, types: aliases.map((a) => checker.getTypeAtLocation(a.name)) };
}

/** Field names in `value` that `type` does not declare, as JSON paths. */
function unknownFields(checker, value, type, path, out) {
  if (value === null || typeof value !== 'object') return;
  const candidates = (type.isUnion() ? type.types : [type]).filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)));
  if (candidates.some((t) => t.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown))) return;
  if (Array.isArray(value)) {
    const array = candidates.find((t) => checker.isArrayType(t));
    if (!array) return;
    const element = checker.getTypeArguments(array)[0];
    value.forEach((item, i) => unknownFields(checker, item, element, `${path}[${i}]`, out));
    return;
  }
  const object = candidates.find((t) => t.flags & ts.TypeFlags.Object && !checker.isArrayType(t));
  if (!object) return;
  const index = checker.getIndexInfoOfType(object, ts.IndexKind.String);
  const properties = new Map(checker.getPropertiesOfType(object).map((p) => [p.name, p]));
  for (const [key, child] of Object.entries(value)) {
    const property = properties.get(key);
    if (property) unknownFields(checker, child, checker.getTypeOfSymbol(property), `${path}.${key}`, out);
    else if (index) unknownFields(checker, child, index.type, `${path}.${key}`, out);
    else out.push(`${path}.${key}`);
  }
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: validate-manifests.mjs <rendered.yaml>...');
  process.exit(2);
}
const objects = [];
for (const file of files) {
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (doc.errors.length > 0) {
      console.error(`${file}: ${doc.errors[0].message}`);
      process.exit(1);
    }
    const object = doc.toJS();
    if (object) objects.push({ file, object });
  }
}
const kinds = [...new Map(objects.map(({ object: o }) => [`${o.apiVersion}/${o.kind}`, { apiVersion: o.apiVersion, kind: o.kind }])).values()];
const { checker, types } = interfaceTypes(kinds);
const typeOf = new Map(kinds.map((k, i) => [`${k.apiVersion}/${k.kind}`, types[i]]));
const problems = [];
for (const { file, object } of objects) {
  const name = `${file}: ${object.kind} ${object.metadata?.name}`;
  const Model = (await import(modulePath(object.apiVersion, object.kind)))[object.kind];
  try {
    new Model(object).validate();
  } catch (error) {
    problems.push(`${name}: ${error.message}`);
  }
  const unknown = [];
  unknownFields(checker, object, typeOf.get(`${object.apiVersion}/${object.kind}`), '', unknown);
  for (const path of unknown) problems.push(`${name}: unknown field ${path.slice(1)}`);
}
for (const problem of problems) console.error(problem);
console.log(`${objects.length} objects in ${files.length} file(s): ${problems.length === 0 ? 'valid' : `${problems.length} problem(s)`}`);
process.exit(problems.length === 0 ? 0 : 1);

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

/** A validator for CycloneDX 1.6 documents (SBOMs, CBOMs) against the schemas that ship with @cyclonedx/cyclonedx-library. */
export function cycloneDxValidator(root: string): (doc: unknown) => { valid: boolean; errors: unknown[] } {
  const schemas = join(root, 'node_modules/@cyclonedx/cyclonedx-library/res/schema');
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  // ajv-formats has no IRI formats; the documents' URLs are plain ASCII URIs anyway.
  for (const format of ['iri-reference', 'idn-email']) ajv.addFormat(format, true);
  for (const name of ['spdx', 'jsf-0.82', 'cryptography-defs']) {
    const { $id: _id, ...schema } = JSON.parse(readFileSync(join(schemas, `${name}.SNAPSHOT.schema.json`), 'utf8')) as Record<string, unknown>;
    ajv.addSchema(schema, `http://cyclonedx.org/schema/${name}.SNAPSHOT.schema.json`);
  }
  const validate = ajv.compile(JSON.parse(readFileSync(join(schemas, 'bom-1.6.SNAPSHOT.schema.json'), 'utf8')) as object);
  return (doc) => ({ valid: validate(doc) === true, errors: validate.errors ?? [] });
}

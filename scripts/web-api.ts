/**
 * Generates the web dashboard's typed API description, `web/src/api/schema.d.ts`, from the
 * OpenAPI document the server itself produces. The app is built in-process on a throwaway
 * SQLite directory (nothing listens), so the types always match the code in this tree: a
 * contract change breaks `npm run typecheck` and the web build rather than a page.
 *
 * The output follows openapi-typescript's `paths` layout, which openapi-fetch consumes.
 * openapi-typescript itself is not used: it needs the TypeScript 5 compiler API, and this
 * project compiles with TypeScript 7, which has none. The schemas are TypeBox's JSON
 * Schema, a small subset of which the translator below covers; anything it does not know
 * becomes `unknown`, which the typecheck then makes callers handle.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from '../src/app.ts';
import { openRuntime } from '../src/runtime.ts';

type Json = Record<string, unknown>;

const ROOT = path.resolve(import.meta.dirname, '..');
const OUT = path.join(ROOT, 'web', 'src', 'api', 'schema.d.ts');
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

async function openApiDocument(): Promise<Json> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-openapi-'));
  try {
    const runtime = await openRuntime({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATA_DIR: dataDir,
      RATE_LIMITS: 'off',
    });
    const app = await buildApp(runtime);
    try {
      await app.ready();
      return app.swagger() as unknown as Json;
    } finally {
      await app.close();
      await runtime.database.close();
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function key(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name);
}

/** One JSON Schema as a TypeScript type, indented for readability. */
function typeOf(schema: unknown, components: Json, depth = 0): string {
  if (!isObject(schema)) return 'unknown';
  const pad = '  '.repeat(depth + 1);
  const end = '  '.repeat(depth);
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/components/schemas/', '');
    return name in components ? `components['schemas'][${JSON.stringify(name)}]` : 'unknown';
  }
  if ('const' in schema) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  for (const combinator of ['anyOf', 'oneOf'] as const) {
    const options = schema[combinator];
    if (Array.isArray(options)) {
      return options.map((option) => typeOf(option, components, depth)).join(' | ');
    }
  }
  if (Array.isArray(schema.allOf)) {
    return schema.allOf.map((part) => `(${typeOf(part, components, depth)})`).join(' & ');
  }
  if (Array.isArray(schema.type)) {
    return schema.type.map((type) => typeOf({ ...schema, type }, components, depth)).join(' | ');
  }
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      return `Array<${typeOf(schema.items, components, depth)}>`;
    case 'object': {
      const properties = isObject(schema.properties) ? schema.properties : {};
      const required = new Set(Array.isArray(schema.required) ? schema.required : []);
      const lines = Object.entries(properties).map(
        ([name, property]) =>
          `${pad}${key(name)}${required.has(name) ? '' : '?'}: ${typeOf(property, components, depth + 1)};`,
      );
      if (lines.length === 0) return 'Record<string, unknown>';
      return `{\n${lines.join('\n')}\n${end}}`;
    }
    default:
      return 'unknown';
  }
}

function parametersOf(operation: Json, components: Json): string {
  const groups: Record<string, string[]> = { query: [], header: [], path: [], cookie: [] };
  const anyRequired = new Set<string>();
  const parameters = Array.isArray(operation.parameters) ? operation.parameters : [];
  for (const parameter of parameters) {
    if (!isObject(parameter) || typeof parameter.name !== 'string') continue;
    const where = typeof parameter.in === 'string' ? parameter.in : 'query';
    // A parameter with a default may be left out, whatever `required` says.
    const hasDefault = isObject(parameter.schema) && 'default' in parameter.schema;
    const optional = parameter.required === true && !hasDefault ? '' : '?';
    if (optional === '') anyRequired.add(where);
    groups[where]?.push(
      `${key(parameter.name)}${optional}: ${typeOf(parameter.schema, components, 4)};`,
    );
  }
  return Object.entries(groups)
    .map(([where, fields]) =>
      fields.length === 0
        ? `      ${where}?: never;`
        : `      ${where}${anyRequired.has(where) ? '' : '?'}: {\n${fields.map((f) => `        ${f}`).join('\n')}\n      };`,
    )
    .join('\n');
}

function contentOf(holder: unknown, components: Json): string {
  if (!isObject(holder) || !isObject(holder.content)) return 'never';
  const entries = Object.entries(holder.content).map(
    ([mediaType, media]) =>
      `${JSON.stringify(mediaType)}: ${typeOf(isObject(media) ? media.schema : undefined, components, 5)}`,
  );
  return entries.length === 0
    ? 'never'
    : `{\n          ${entries.join(';\n          ')};\n        }`;
}

function render(document: Json): string {
  const components =
    isObject(document.components) && isObject(document.components.schemas)
      ? document.components.schemas
      : {};
  const paths = isObject(document.paths) ? document.paths : {};
  const out: string[] = [
    "// Generated by `npm run web:api` from the server's OpenAPI document. Do not edit.",
    '',
    'export interface paths {',
  ];
  for (const [route, item] of Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))) {
    if (!isObject(item)) continue;
    out.push(`  ${JSON.stringify(route)}: {`);
    for (const method of METHODS) {
      const operation = item[method];
      if (!isObject(operation)) {
        out.push(`    ${method}?: never;`);
        continue;
      }
      out.push(`    ${method}: {`);
      out.push('      parameters: {');
      out.push(parametersOf(operation, components).replace(/^ {6}/gm, '        '));
      out.push('      };');
      if (isObject(operation.requestBody)) {
        const required = operation.requestBody.required === true ? '' : '?';
        out.push(`      requestBody${required}: {`);
        out.push(`        content: ${contentOf(operation.requestBody, components)};`);
        out.push('      };');
      } else {
        out.push('      requestBody?: never;');
      }
      out.push('      responses: {');
      const responses = isObject(operation.responses) ? operation.responses : {};
      for (const [status, response] of Object.entries(responses)) {
        // Numeric keys, as openapi-fetch matches success statuses (200, 201) as numbers.
        out.push(`        ${/^\d+$/.test(status) ? status : key(status)}: {`);
        out.push('          headers: { [name: string]: unknown };');
        out.push(`          content: ${contentOf(response, components)};`);
        out.push('        };');
      }
      out.push('      };');
      out.push('    };');
    }
    out.push('  };');
  }
  out.push('}', '', 'export interface components {', '  schemas: {');
  for (const [name, schema] of Object.entries(components)) {
    out.push(`    ${JSON.stringify(name)}: ${typeOf(schema, components, 2)};`);
  }
  out.push('  };', '}', '');
  return out.join('\n');
}

const document = await openApiDocument();
fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, render(document));
process.stdout.write(`wrote ${path.relative(ROOT, OUT)}\n`);

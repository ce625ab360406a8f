/**
 * Names the JSON keys that Fastify's body parser rejects as prototype
 * poisoning: "__proto__", and "constructor" holding an object with a
 * "prototype" key. The parser (secure-json-parse, with Fastify's default
 * `onProtoPoisoning: 'error'`) reports them as invalid JSON, so the API
 * finds the key again to say why the body was rejected.
 */
import { ApiError } from './errors.ts'

export interface ForbiddenKey {
  /** `__proto__` or `constructor.prototype`. */
  key: string
  /** Location of the key in the parsed body, the key's own segments included. */
  path: (string | number)[]
}

const hasOwn = (value: object, key: string) => Object.prototype.hasOwnProperty.call(value, key)

/** Returns the first forbidden key of a parsed JSON value, depth first, or undefined without one. */
export function findForbiddenKey(value: unknown): ForbiddenKey | undefined {
  // An explicit stack, because a deeply nested body would overflow the call stack.
  const stack: { node: unknown; path: (string | number)[] }[] = [{ node: value, path: [] }]
  while (stack.length > 0) {
    const { node, path } = stack.pop() as { node: unknown; path: (string | number)[] }
    if (node === null || typeof node !== 'object') continue
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push({ node: node[i], path: [...path, i] })
      continue
    }
    if (hasOwn(node, '__proto__')) return { key: '__proto__', path: [...path, '__proto__'] }
    const record = node as Record<string, unknown>
    const { constructor } = record
    if (
      hasOwn(node, 'constructor') &&
      constructor !== null &&
      typeof constructor === 'object' &&
      hasOwn(constructor, 'prototype')
    ) {
      return { key: 'constructor.prototype', path: [...path, 'constructor', 'prototype'] }
    }
    const keys = Object.keys(record)
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string
      stack.push({ node: record[key], path: [...path, key] })
    }
  }
  return undefined
}

/**
 * Finds a forbidden key in JSON text. Returns undefined when the text has
 * none or is not valid JSON, which the caller reports on its own.
 */
export function findForbiddenKeyInText(text: string): ForbiddenKey | undefined {
  // A key written with \u escapes, such as "\u005f_proto__", has a backslash-u in the text,
  // so a text with neither name and no escape cannot hold either key and is not parsed again.
  if (!text.includes('__proto__') && !text.includes('constructor') && !text.includes('\\u')) {
    return undefined
  }
  // JSON.parse decodes escaped keys, so the walk compares their real names.
  const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    return undefined
  }
  return findForbiddenKey(value)
}

/**
 * Builds the INVALID_REQUEST error for a forbidden key. For a line of a JSONL
 * body, `line` is its index from 0, which goes first in the error's path.
 */
export function forbiddenKeyError(found: ForbiddenKey, line?: number): ApiError {
  const parent = found.path.slice(0, found.key === '__proto__' ? -1 : -2)
  const where = [
    ...(line === undefined ? [] : [`on line ${line + 1}`]),
    parent.length > 0 ? `at ${parent.join('.')}` : 'at the top level',
  ].join(' ')
  return new ApiError(
    'INVALID_REQUEST',
    `JSON key "${found.key}" ${where} is not allowed, because it can change object prototypes; remove it`,
    line === undefined ? found.path : [line, ...found.path],
  )
}

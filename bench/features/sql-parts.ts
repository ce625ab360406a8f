/**
 * Text helpers that cut parts out of the feature query as `buildFeatureQuery`
 * returns it, so the stage probes time the SQL that is current instead of a
 * copy of it. A part that is no longer there comes back as undefined and its
 * probe is skipped.
 */

interface Group {
  /** Index of the opening parenthesis. */
  open: number
  /** Index of the matching closing parenthesis. */
  close: number
  depth: number
}

/** Lists every balanced parenthesised group, skipping string literals and quoted identifiers. */
function parenthesisedGroups(sql: string): Group[] {
  const groups: Group[] = []
  const stack: number[] = []
  for (let index = 0; index < sql.length; index++) {
    const char = sql[index]
    if (char === "'" || char === '`' || char === '"') {
      // ClickHouse escapes a quote inside a literal by doubling it or with a backslash.
      for (index += 1; index < sql.length; index++) {
        if (sql[index] === '\\') index += 1
        else if (sql[index] === char && sql[index + 1] === char) index += 1
        else if (sql[index] === char) break
      }
    } else if (char === '(') {
      stack.push(index)
    } else if (char === ')') {
      const open = stack.pop()
      if (open === undefined)
        throw new SyntaxError(`Unbalanced ')' at offset ${index} of the feature query`)
      groups.push({ open, close: index, depth: stack.length })
    }
  }
  if (stack.length > 0) throw new SyntaxError('Unbalanced "(" in the feature query')
  return groups
}

function inner(sql: string, group: Group): string {
  return sql.slice(group.open + 1, group.close)
}

/** Returns the body of the subquery written as `(...) AS alias`, or undefined when there is none. */
export function aliasedSubquery(sql: string, alias: string): string | undefined {
  const pattern = new RegExp(`^\\s*AS\\s+${alias}\\b`)
  const group = parenthesisedGroups(sql).find((candidate) =>
    pattern.test(sql.slice(candidate.close + 1)),
  )
  return group === undefined ? undefined : inner(sql, group)
}

/**
 * Returns the body of the outermost subquery that directly follows a `FROM`
 * keyword, or undefined when the query reads no subquery.
 */
export function firstFromSubquery(sql: string): string | undefined {
  const groups = parenthesisedGroups(sql)
    .filter((group) => /\bFROM\s*$/i.test(sql.slice(0, group.open)))
    .sort((a, b) => a.depth - b.depth || a.open - b.open)
  const group = groups[0]
  return group === undefined ? undefined : inner(sql, group)
}

/** Returns the `WITH ...` clause at the start of the query, or '' when it has none. */
export function leadingWith(sql: string): string {
  const trimmed = sql.trimStart()
  if (!/^WITH\b/i.test(trimmed)) return ''
  const groups = parenthesisedGroups(trimmed)
  // The clause ends at the first SELECT keyword outside every parenthesised group.
  const pattern = /\bSELECT\b/gi
  for (let match = pattern.exec(trimmed); match !== null; match = pattern.exec(trimmed)) {
    const at = match.index
    if (!groups.some((group) => group.open < at && at < group.close)) return trimmed.slice(0, at)
  }
  return ''
}

/** Replaces every occurrence of `search`, returning undefined when there is none. */
export function replaceAll(
  sql: string,
  search: string | RegExp,
  replacement: string,
): string | undefined {
  const found =
    typeof search === 'string'
      ? sql.includes(search)
      : new RegExp(search.source, search.flags.replace('g', '')).test(sql)
  if (!found) return undefined
  return typeof search === 'string'
    ? sql.split(search).join(replacement)
    : sql.replace(search, replacement)
}

/** Removes a trailing top-level `ORDER BY ...` clause, returning undefined when there is none. */
export function withoutFinalOrderBy(sql: string): string | undefined {
  const groups = parenthesisedGroups(sql)
  const pattern = /\bORDER BY\b/gi
  let last: number | undefined
  for (let match = pattern.exec(sql); match !== null; match = pattern.exec(sql)) {
    const at = match.index
    if (!groups.some((group) => group.open < at && at < group.close)) last = at
  }
  return last === undefined ? undefined : sql.slice(0, last)
}

/** Splits a comma-separated argument list at the commas outside brackets and string literals. */
function splitArguments(text: string): string[] {
  const parts: string[] = []
  let depth = 0
  let start = 0
  for (let index = 0; index < text.length; index++) {
    const char = text[index]
    if (char === "'" || char === '`' || char === '"') {
      for (index += 1; index < text.length; index++) {
        if (text[index] === '\\') index += 1
        else if (text[index] === char && text[index + 1] === char) index += 1
        else if (text[index] === char) break
      }
    } else if (char === '(' || char === '[') {
      depth += 1
    } else if (char === ')' || char === ']') {
      depth -= 1
    } else if (char === ',' && depth === 0) {
      parts.push(text.slice(start, index))
      start = index + 1
    }
  }
  parts.push(text.slice(start))
  return parts
}

/**
 * Replaces each `multiIf(...)` that names every zone in `zoneLiterals` with
 * its last argument, the fallback branch, so every contact takes the same
 * zone. Returns undefined when the query has no such multiIf.
 */
export function withSingleZone(sql: string, zoneLiterals: string[]): string | undefined {
  let current = sql
  let replaced = false
  for (;;) {
    const group = parenthesisedGroups(current)
      .filter(
        (candidate) =>
          current.slice(candidate.open - 'multiIf'.length, candidate.open) === 'multiIf',
      )
      .filter((candidate) => zoneLiterals.every((zone) => inner(current, candidate).includes(zone)))
      .sort((a, b) => a.depth - b.depth)[0]
    if (group === undefined) break
    const fallback = splitArguments(inner(current, group)).at(-1) ?? ''
    current =
      current.slice(0, group.open - 'multiIf'.length) +
      fallback.trim() +
      current.slice(group.close + 1)
    replaced = true
  }
  return replaced ? current : undefined
}

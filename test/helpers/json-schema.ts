/**
 * A small validator for the JSON Schema keywords the recipe schema uses (type, enum, const,
 * pattern, minLength, minimum, maximum, properties, required, additionalProperties, items,
 * oneOf): enough to check that the recipe schemas say what parseRecipe and parseInitrdRecipe do.
 */
export function validate(schema: unknown, v: unknown, at = '$'): string[] {
  const s = schema as Record<string, unknown>;
  const errs: string[] = [];
  const type = s['type'] as string | undefined;
  if (type) {
    const ok =
      type === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v)
      : type === 'array' ? Array.isArray(v)
      : type === 'integer' ? Number.isInteger(v)
      : typeof v === type;
    if (!ok) return [`${at}: not ${type}`];
  }
  if ('const' in s && v !== s['const']) errs.push(`${at}: not ${String(s['const'])}`);
  if (Array.isArray(s['enum']) && !(s['enum'] as unknown[]).includes(v)) errs.push(`${at}: not in enum`);
  if (typeof v === 'string') {
    if (typeof s['pattern'] === 'string' && !new RegExp(s['pattern'] as string, 'u').test(v)) errs.push(`${at}: pattern`);
    if (typeof s['minLength'] === 'number' && v.length < (s['minLength'] as number)) errs.push(`${at}: minLength`);
  }
  if (typeof v === 'number') {
    if (typeof s['minimum'] === 'number' && v < (s['minimum'] as number)) errs.push(`${at}: minimum`);
    if (typeof s['maximum'] === 'number' && v > (s['maximum'] as number)) errs.push(`${at}: maximum`);
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    const props = (s['properties'] ?? {}) as Record<string, unknown>;
    for (const r of (s['required'] as string[] | undefined) ?? []) if (!(r in o)) errs.push(`${at}: missing ${r}`);
    for (const [k, val] of Object.entries(o)) {
      if (k in props) errs.push(...validate(props[k], val, `${at}.${k}`));
      else if (s['additionalProperties'] === false) errs.push(`${at}.${k}: not allowed`);
    }
  }
  if (Array.isArray(v) && s['items']) v.forEach((item, i) => errs.push(...validate(s['items'], item, `${at}[${i}]`)));
  if (Array.isArray(s['oneOf'])) {
    const passing = (s['oneOf'] as unknown[]).filter((sub) => validate(sub, v, at).length === 0).length;
    if (passing !== 1) errs.push(`${at}: ${passing} of oneOf match`);
  }
  return errs;
}

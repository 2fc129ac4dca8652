// Caller authorization for the ARM writes that matter, as ARM does it: a write needs a role assignment of the
// caller at or above the scope whose role grants the action (`actions` minus `notActions` of the same block), no
// deny assignment covering the caller for it, and, when that assignment carries an ABAC condition
// (conditionVersion 2.0), a condition that holds for the request. Otherwise 403 AuthorizationFailed with ARM's
// message. The control API never comes through here (it acts as Azure itself), and the tenant's classic
// co-administrators (SandboxState.coAdministrators: `admin`, `alice`, `bob` by default, like the Service
// Administrator / Co-Administrators of a classic subscription, whose access is not an RBAC assignment) pass.
// Reads are not checked (the sandbox answers every authenticated read).
// Condition language: https://learn.microsoft.com/azure/role-based-access-control/conditions-format and
// conditions-authorization-actions-attributes (roleAssignments write: @Request RoleDefinitionId / PrincipalId /
// PrincipalType; delete: the same as @Resource). Anything the parser does not know fails closed (no grant).
import { actionMatches, blockAllowsAction } from '../../core/actions.js';
import { scopeCovers } from '../../core/scopes.js';
import type { Principal, SandboxState } from '../state.js';
import { findRoleDefinition, roleGuidOf } from './roleDefinitions.js';
import { ArmError } from './common.js';

export const EVERYONE = '00000000-0000-0000-0000-000000000000';

/** What a condition may look at: `@Request[...]` and `@Resource[...]` attributes by their full name (lower case). */
export interface RequestAttributes {
  request?: Record<string, string[]>;
  resource?: Record<string, string[]>;
}

/** The role assignment attributes ABAC exposes, from a roleDefinitionId / principalId / principalType. */
export function roleAssignmentAttributes(a: {
  roleDefinitionId: string;
  principalId: string;
  principalType?: string;
}): Record<string, string[]> {
  const guid = roleGuidOf(a.roleDefinitionId) ?? a.roleDefinitionId;
  return {
    'microsoft.authorization/roleassignments:roledefinitionid': [guid],
    'microsoft.authorization/roleassignments:principalid': [a.principalId],
    ...(a.principalType ? { 'microsoft.authorization/roleassignments:principaltype': [a.principalType] } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Condition parsing and evaluation

type Node =
  | { k: 'and' | 'or'; l: Node; r: Node }
  | { k: 'not'; e: Node }
  | { k: 'action'; pattern: string }
  | { k: 'cmp'; source: 'request' | 'resource'; attr: string; quant: string; op: string; values: string[] };

class ConditionSyntaxError extends Error {}

const QUANTIFIERS = ['foranyofanyvalues', 'forallofanyvalues', 'foranyofallvalues', 'forallofallvalues'];
const OPERATORS = [
  'guidequals',
  'guidnotequals',
  'stringequals',
  'stringnotequals',
  'stringequalsignorecase',
  'stringnotequalsignorecase',
];

function tokenize(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if ('(){},!'.includes(c)) {
      out.push(c);
      i++;
      continue;
    }
    if (c === '&' || c === '|') {
      if (text[i + 1] !== c) throw new ConditionSyntaxError(`unexpected '${c}' at ${i}`);
      out.push(c === '&' ? 'AND' : 'OR');
      i += 2;
      continue;
    }
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new ConditionSyntaxError('unterminated string');
      out.push(text.slice(i, end + 1));
      i = end + 1;
      continue;
    }
    if (c === '@') {
      const end = text.indexOf(']', i);
      if (end < 0) throw new ConditionSyntaxError('unterminated attribute');
      out.push(text.slice(i, end + 1));
      i = end + 1;
      continue;
    }
    const m = /^[A-Za-z0-9_.:\-/]+/.exec(text.slice(i));
    if (!m) throw new ConditionSyntaxError(`unexpected '${c}' at ${i}`);
    out.push(m[0]);
    i += m[0].length;
  }
  return out;
}

const parsed = new Map<string, Node | ConditionSyntaxError>();

export function parseCondition(text: string): Node {
  const hit = parsed.get(text);
  if (hit instanceof ConditionSyntaxError) throw hit;
  if (hit) return hit;
  try {
    const node = new Parser(tokenize(text)).parse();
    parsed.set(text, node);
    return node;
  } catch (err) {
    const e = err instanceof ConditionSyntaxError ? err : new ConditionSyntaxError(String(err));
    parsed.set(text, e);
    throw e;
  }
}

class Parser {
  private i = 0;
  constructor(private readonly t: string[]) {}

  parse(): Node {
    const n = this.or();
    if (this.i !== this.t.length) throw new ConditionSyntaxError(`unexpected '${this.t[this.i]}'`);
    return n;
  }
  private peek(): string | undefined {
    return this.t[this.i];
  }
  private next(): string {
    const v = this.t[this.i++];
    if (v === undefined) throw new ConditionSyntaxError('unexpected end of condition');
    return v;
  }
  private expect(tok: string): void {
    const v = this.next();
    if (v !== tok) throw new ConditionSyntaxError(`expected '${tok}', got '${v}'`);
  }
  private or(): Node {
    let l = this.and();
    while (this.peek()?.toUpperCase() === 'OR') {
      this.i++;
      l = { k: 'or', l, r: this.and() };
    }
    return l;
  }
  private and(): Node {
    let l = this.unary();
    while (this.peek()?.toUpperCase() === 'AND') {
      this.i++;
      l = { k: 'and', l, r: this.unary() };
    }
    return l;
  }
  private unary(): Node {
    const tok = this.next();
    if (tok === '!' || tok.toUpperCase() === 'NOT') return { k: 'not', e: this.unary() };
    if (tok === '(') {
      const e = this.or();
      this.expect(')');
      return e;
    }
    if (/^(ActionMatches|SubOperationMatches)$/i.test(tok)) {
      if (/^SubOperationMatches$/i.test(tok)) throw new ConditionSyntaxError('SubOperationMatches is not supported');
      this.expect('{');
      const s = this.next();
      this.expect('}');
      if (!/^'.*'$/.test(s)) throw new ConditionSyntaxError('ActionMatches takes a quoted action');
      return { k: 'action', pattern: s.slice(1, -1) };
    }
    return this.comparison(tok);
  }
  /** `@Request[attr] [quantifier:]operator value` or `... {v1, v2}`. */
  private comparison(tok: string): Node {
    const attr = /^@(Request|Resource)\[(.+)\]$/i.exec(tok);
    if (!attr) throw new ConditionSyntaxError(`unsupported term '${tok}'`);
    const opTok = this.next().toLowerCase();
    const [quant, op] = opTok.includes(':') ? opTok.split(':', 2) : ['', opTok];
    if ((quant && !QUANTIFIERS.includes(quant)) || !OPERATORS.includes(op)) {
      throw new ConditionSyntaxError(`unsupported operator '${opTok}'`);
    }
    return {
      k: 'cmp',
      source: attr[1].toLowerCase() as 'request' | 'resource',
      attr: attr[2].trim().toLowerCase(),
      quant,
      op,
      values: this.values(),
    };
  }
  private values(): string[] {
    if (this.peek() !== '{') return [unquote(this.next())];
    this.i++;
    const values: string[] = [];
    for (;;) {
      values.push(unquote(this.next()));
      const sep = this.next();
      if (sep === '}') return values;
      if (sep !== ',') throw new ConditionSyntaxError(`expected ',' or '}', got '${sep}'`);
    }
  }
}

function unquote(s: string): string {
  return /^'.*'$/.test(s) ? s.slice(1, -1) : s;
}

function valueMatch(op: string, a: string, v: string): boolean {
  const equalsIgnoreCase = a.trim().toLowerCase() === v.trim().toLowerCase();
  switch (op) {
    case 'guidequals':
    case 'stringequalsignorecase':
      return equalsIgnoreCase;
    case 'guidnotequals':
    case 'stringnotequalsignorecase':
      return !equalsIgnoreCase;
    case 'stringequals':
      return a === v;
    case 'stringnotequals':
      return a !== v;
  }
  return false;
}

function evalNode(n: Node, action: string, attrs: RequestAttributes): boolean {
  switch (n.k) {
    case 'and':
      return evalNode(n.l, action, attrs) && evalNode(n.r, action, attrs);
    case 'or':
      return evalNode(n.l, action, attrs) || evalNode(n.r, action, attrs);
    case 'not':
      return !evalNode(n.e, action, attrs);
    case 'action':
      return actionMatches(n.pattern, action);
    case 'cmp': {
      const got = (n.source === 'request' ? attrs.request : attrs.resource)?.[n.attr] ?? [];
      // An attribute the action does not carry never satisfies a comparison (fail closed).
      if (got.length === 0) return false;
      const m = (a: string, v: string) => valueMatch(n.op, a, v);
      switch (n.quant) {
        case 'forallofanyvalues':
          return got.every((a) => n.values.some((v) => m(a, v)));
        case 'foranyofallvalues':
          return got.some((a) => n.values.every((v) => m(a, v)));
        case 'forallofallvalues':
          return got.every((a) => n.values.every((v) => m(a, v)));
        default:
          return got.some((a) => n.values.some((v) => m(a, v)));
      }
    }
  }
}

/** Evaluates a conditionVersion 2.0 condition for one action; a condition it cannot parse is false. */
export function conditionHolds(condition: string, action: string, attrs: RequestAttributes): boolean {
  try {
    return evalNode(parseCondition(condition), action, attrs);
  } catch (err) {
    if (err instanceof ConditionSyntaxError) return false;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The check

function clientName(p: Principal): string {
  return p.upn ?? p.appId ?? p.objectId;
}

export function authorizationFailed(p: Principal, action: string, scope: string): ArmError {
  return new ArmError(
    403,
    'AuthorizationFailed',
    `The client '${clientName(p)}' with object id '${p.objectId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
  );
}

/**
 * Throws 403 unless `actor` may perform `action` on `scope` (the resource ID the request targets).
 * `attrs` carry the request/resource attributes a condition may test.
 */
export function authorizeAction(
  state: SandboxState,
  actor: Principal,
  action: string,
  scope: string,
  attrs: RequestAttributes = {},
): void {
  if (state.coAdministrators.has(actor.name.toLowerCase())) return;
  const oid = actor.objectId.toLowerCase();
  const granting = [...state.roleAssignments.values()].find((a) => {
    if (a.principalId.toLowerCase() !== oid || !scopeCovers(a.scope, scope)) return false;
    const guid = roleGuidOf(a.roleDefinitionId);
    const def = guid ? findRoleDefinition(state, guid) : undefined;
    if (!def || !def.permissions.some((b) => blockAllowsAction(b, action))) return false;
    return !a.condition || conditionHolds(a.condition, action, attrs);
  });
  if (!granting) throw authorizationFailed(actor, action, scope);
  for (const d of state.denyAssignments.values()) {
    if (!scopeCovers(d.scope, scope)) continue;
    if (d.doNotApplyToChildScopes && d.scope.toLowerCase() !== scope.toLowerCase()) continue;
    const covered = d.principals.some((p) => p.id.toLowerCase() === oid || p.id === EVERYONE);
    const excluded = d.excludePrincipals.some((p) => p.id.toLowerCase() === oid);
    if (!covered || excluded || !d.permissions.some((b) => blockAllowsAction(b, action))) continue;
    throw new ArmError(
      403,
      'AuthorizationFailed',
      `The client '${clientName(actor)}' with object id '${actor.objectId}' has permission to perform action '${action}' on scope '${scope}'; however, the access is denied because of the deny assignment with name '${d.denyAssignmentName}' and Id '${d.name}' at scope '${d.scope}'.`,
    );
  }
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PERMISSIONS, ROLES, allowedActions, can, isRole, type Action } from './permissions';

test('every action names a known role as its minimum', () => {
  for (const [action, role] of Object.entries(PERMISSIONS)) assert.ok(isRole(role), `${action} → ${role}`);
});

test('roles are ordered: each role may do what the roles below it may', () => {
  for (const action of Object.keys(PERMISSIONS) as Action[]) {
    const allowed = ROLES.map((r) => can(r, action));
    const first = allowed.indexOf(true);
    assert.ok(first >= 0, `${action}: nobody may do it`);
    assert.deepEqual(allowed.slice(first), allowed.slice(first).map(() => true), `${action}: a higher role lost the permission`);
    assert.equal(ROLES[first], PERMISSIONS[action], `${action}: the lowest allowed role is the table's`);
  }
});

test('the rules the product relies on', () => {
  const table: [Action, Record<(typeof ROLES)[number], boolean>][] = [
    ['revisions.write', { viewer: false, operator: true, approver: true, admin: true }],
    ['approvals.decide', { viewer: false, operator: false, approver: true, admin: true }],
    ['members.manage', { viewer: false, operator: false, approver: false, admin: true }],
    ['tokens.manage', { viewer: false, operator: false, approver: false, admin: true }],
    ['tokens.create', { viewer: true, operator: true, approver: true, admin: true }],
    ['audit.read', { viewer: true, operator: true, approver: true, admin: true }],
    ['audit.verify', { viewer: true, operator: true, approver: true, admin: true }],
    ['routes.read', { viewer: true, operator: true, approver: true, admin: true }],
  ];
  for (const [action, expected] of table) {
    for (const role of ROLES) assert.equal(can(role, action), expected[role], `${role} ${action}`);
  }
});

test('allowedActions lists exactly what can() allows', () => {
  assert.deepEqual(allowedActions('admin'), Object.keys(PERMISSIONS));
  assert.ok(!allowedActions('viewer').includes('revisions.write'));
  for (const role of ROLES) {
    for (const action of Object.keys(PERMISSIONS) as Action[]) assert.equal(allowedActions(role).includes(action), can(role, action));
  }
});

test('isRole accepts only the four roles', () => {
  assert.ok(isRole('approver'));
  assert.ok(!isRole('root'));
  assert.ok(!isRole(undefined));
});

// IoT Hub's query language as far as the emulator evaluates it, and the service SAS policies: pure functions.
import { describe, expect, it } from 'vitest';
import {
  createSasToken,
  HubQueryError,
  matchesHubQuery,
  parseHubQuery,
  parseSasToken,
  policyGrants,
  policyTokenResources,
  verifySasToken,
  type QueryValue,
} from '../../src/protocol/index.js';

const twins: Record<string, QueryValue> = {
  a: { deviceId: 'a', tags: { site: 'north', rank: 1 }, capabilities: { iotEdge: true } },
  b: { deviceId: 'b', tags: { site: 'north', rank: 5 }, properties: { reported: { fw: '1.2' } } },
  c: { deviceId: 'c', tags: { site: "o'hare" }, properties: { desired: { interval: 10 } } },
  d: { deviceId: 'd' },
};

const select = (where: string) =>
  Object.keys(twins).filter((id) => matchesHubQuery(parseHubQuery(`SELECT * FROM devices WHERE ${where}`), twins[id]!));

describe('hub query', () => {
  it('compares paths with literals, with AND, OR, NOT and parentheses', () => {
    expect(select("tags.site = 'north'")).toEqual(['a', 'b']);
    expect(select("tags.site = 'north' AND tags.rank > 2")).toEqual(['b']);
    expect(select("tags.rank <= 1 OR deviceId = 'c'")).toEqual(['a', 'c']);
    expect(select("NOT (tags.site = 'north')")).toEqual(['c']);
    expect(select('capabilities.iotEdge = true')).toEqual(['a']);
    expect(select("properties.reported.fw = '1.2'")).toEqual(['b']);
    expect(select('properties.desired.interval >= 10')).toEqual(['c']);
    expect(select("tags.site = 'o''hare'")).toEqual(['c']);
    expect(select("devices.tags.site <> 'north'")).toEqual(['c']);
    expect(select('IS_DEFINED(tags.rank) and tags.rank < 3')).toEqual(['a']);
  });

  it('treats a missing property as neither equal nor unequal, as IoT Hub does', () => {
    expect(select("tags.site != 'north'")).toEqual(['c']);
    expect(select('NOT IS_DEFINED(tags)')).toEqual(['d']);
  });

  it('reads the source and no WHERE', () => {
    expect(parseHubQuery('select * from devices')).toEqual({ from: 'devices' });
    expect(parseHubQuery("SELECT * FROM devices.modules WHERE moduleId = 'm'").from).toBe('devices.modules');
  });

  it('refuses what it does not evaluate, naming it', () => {
    const refused = (q: string) => {
      try {
        parseHubQuery(q);
      } catch (err) {
        expect(err).toBeInstanceOf(HubQueryError);
        return (err as Error).message;
      }
      throw new Error(`accepted: ${q}`);
    };
    expect(refused('SELECT deviceId FROM devices')).toContain('a projection');
    expect(refused('SELECT COUNT() AS n FROM devices')).toContain('COUNT()');
    expect(refused("SELECT * FROM devices WHERE tags.site IN ['a']")).toContain('IN');
    expect(refused('SELECT * FROM devices GROUP BY tags.site')).toContain('GROUP BY');
    expect(refused('SELECT * FROM jobs')).toContain('FROM jobs');
    expect(refused("SELECT * FROM devices WHERE STARTSWITH(deviceId, 'a')")).toContain('STARTSWITH()');
    expect(refused("SELECT * FROM devices WHERE tags.site = 'open")).toContain('not closed');
    expect(refused('SELECT * FROM devices WHERE')).toContain('the end of the query');
    expect(refused('')).toContain('empty');
    expect(refused(`SELECT * FROM devices WHERE deviceId = '${'x'.repeat(9000)}'`)).toContain('8192');
  });
});

describe('service SAS policies', () => {
  it('grant their rights only', () => {
    expect(policyGrants('iothubowner', ['registryWrite', 'serviceConnect'])).toBe(true);
    expect(policyGrants('registryRead', ['registryWrite'])).toBe(false);
    expect(policyGrants('serviceConnect', ['serviceConnect'])).toBe(true);
    expect(policyGrants('device', ['registryRead'])).toBe(false);
  });

  it('verify a token scoped to the hub or to a leading part of the path', () => {
    const key = Buffer.alloc(32, 1).toString('base64');
    const resources = policyTokenResources(['localhost:4443'], '/devices/d1/modules/m1');
    expect(resources).toContain('localhost:4443/devices/d1');
    const now = 1_700_000_000;
    for (const [resource, ok] of [
      ['localhost:4443', true],
      ['localhost:4443/devices', true],
      ['localhost:4443/twins', false],
      ['other:4443', false],
    ] as const) {
      const token = parseSasToken(createSasToken({ resourceUri: resource, key, expiry: now + 60, keyName: 'x' }));
      expect(verifySasToken(token, [key], resources, now).ok, resource).toBe(ok);
    }
  });
});

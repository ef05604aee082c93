import { describe, expect, it } from 'vitest';
import {
  allowedFilters,
  decodePropertyBag,
  encodePropertyBag,
  parseMethodPayload,
  parseTopic,
  splitProperties,
  topic,
} from '../../src/protocol/index.js';

describe('property bags', () => {
  it('decodes $ and %24 system keys alike, null and empty values', () => {
    expect(decodePropertyBag('%24.mid=1&$.ct=application%2Fjson&prop1&prop2=&prop3=a%20string')).toEqual({
      '$.mid': '1',
      '$.ct': 'application/json',
      prop1: null,
      prop2: '',
      prop3: 'a string',
    });
  });
  it('encodes like the Node SDK (querystring): $ as %24, spaces as %20', () => {
    expect(encodePropertyBag({ '$.ct': 'application/json', 'a b': 'c d', n: null })).toBe(
      '%24.ct=application%2Fjson&a%20b=c%20d&n',
    );
  });
  it('round-trips', () => {
    const bag = { '$.sub': 'thermostat1', 'iothub-creation-time-utc': '2021-04-21T11:30:16.123Z', x: '=&/' };
    expect(decodePropertyBag(encodePropertyBag(bag))).toEqual(bag);
  });
  it('keeps a malformed escape as it came instead of failing', () => {
    expect(decodePropertyBag('a=%E0%A4%A')).toEqual({ a: '%E0%A4%A' });
  });
  it('splits system from application properties', () => {
    const { system, application } = splitProperties({ '$.mid': 'm', '$.sub': 'c', '$.on': 'out', color: 'red' });
    expect(system).toEqual({ messageId: 'm', component: 'c', outputName: 'out' });
    expect(application).toEqual({ color: 'red' });
  });
});

describe('topics', () => {
  it('builds every topic of docs/protocol.md §1.3 and §3.2', () => {
    expect(topic.telemetry({ deviceId: 'd1' })).toBe('devices/d1/messages/events/');
    expect(topic.telemetry({ deviceId: 'd1', moduleId: 'm1' }, { '$.on': 'out1' })).toBe(
      'devices/d1/modules/m1/messages/events/%24.on=out1',
    );
    expect(topic.c2d('d1')).toBe('devices/d1/messages/devicebound/');
    expect(topic.moduleInput('e1', 'm1', 'input1', { '$.cdid': 'e1' })).toBe(
      'devices/e1/modules/m1/inputs/input1/%24.cdid=e1',
    );
    expect(topic.twinGet('7')).toBe('$iothub/twin/GET/?$rid=7');
    expect(topic.twinReportedPatch('8')).toBe('$iothub/twin/PATCH/properties/reported/?$rid=8');
    expect(topic.twinResponse(204, '8', 5)).toBe('$iothub/twin/res/204/?$rid=8&$version=5');
    expect(topic.desiredPatch(3)).toBe('$iothub/twin/PATCH/properties/desired/?$version=3');
    expect(topic.methodRequest('reboot', 'a1')).toBe('$iothub/methods/POST/reboot/?$rid=a1');
    expect(topic.methodResponse(200, 'a1')).toBe('$iothub/methods/res/200/?$rid=a1');
    expect(topic.dpsRegister('1')).toBe('$dps/registrations/PUT/iotdps-register/?$rid=1');
    expect(topic.dpsPoll('2', '5.71cf:x')).toBe(
      '$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=5.71cf%3Ax',
    );
    expect(topic.dpsResponse(202, '1', 3)).toBe('$dps/registrations/res/202/?$rid=1&retry-after=3');
  });

  it.each([
    ['devices/d1/messages/events/', { kind: 'telemetry', deviceId: 'd1', properties: {} }],
    ['devices/d1/messages/events', { kind: 'telemetry', deviceId: 'd1', properties: {} }],
    [
      'devices/d1/messages/events/$.sub=c1&k=v',
      { kind: 'telemetry', deviceId: 'd1', properties: { '$.sub': 'c1', k: 'v' } },
    ],
    [
      'devices/d1/modules/m1/messages/events/%24.on=alert/',
      { kind: 'telemetry', deviceId: 'd1', moduleId: 'm1', properties: { '$.on': 'alert' } },
    ],
    [
      'devices/d1/modules/m1/messages/events/%24.on=alert',
      { kind: 'telemetry', deviceId: 'd1', moduleId: 'm1', properties: { '$.on': 'alert' } },
    ],
    [
      'devices/d1/messages/devicebound/%24.mid=x&p',
      { kind: 'c2d', deviceId: 'd1', properties: { '$.mid': 'x', p: null } },
    ],
    [
      'devices/e1/modules/m1/inputs/input1/%24.cdid=e1',
      { kind: 'moduleInput', deviceId: 'e1', moduleId: 'm1', input: 'input1', properties: { '$.cdid': 'e1' } },
    ],
    ['$iothub/twin/GET/?$rid=1', { kind: 'twinGet', rid: '1' }],
    ['$iothub/twin/PATCH/properties/reported/?$rid=2', { kind: 'twinReportedPatch', rid: '2' }],
    ['$iothub/twin/res/204/?$rid=2&$version=9', { kind: 'twinResponse', status: 204, rid: '2', version: 9 }],
    ['$iothub/twin/res/200/?$rid=2', { kind: 'twinResponse', status: 200, rid: '2' }],
    ['$iothub/twin/PATCH/properties/desired/?$version=4', { kind: 'desiredPatch', version: 4 }],
    [
      '$iothub/methods/POST/thermostat1*getMaxMinReport/?$rid=5',
      { kind: 'methodRequest', name: 'thermostat1*getMaxMinReport', rid: '5' },
    ],
    ['$iothub/methods/res/500/?$rid=5', { kind: 'methodResponse', status: 500, rid: '5' }],
    ['$dps/registrations/PUT/iotdps-register/?$rid=1', { kind: 'dpsRegister', rid: '1' }],
    [
      '$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=4.abc.def',
      { kind: 'dpsPoll', rid: '2', operationId: '4.abc.def' },
    ],
    [
      '$dps/registrations/res/202/?$rid=1&retry-after=3',
      { kind: 'dpsResponse', status: 202, rid: '1', retryAfterSeconds: 3 },
    ],
    ['$dps/registrations/res/401/?$rid=1', { kind: 'dpsResponse', status: 401, rid: '1' }],
  ])('parses %s', (t, expected) => {
    expect(parseTopic(t)).toEqual(expected);
  });

  it.each([
    'devices//messages/events/',
    'devices/d1/messages/other/',
    'devices/d1/messages/events/a/b',
    'devices/d1/messages/events/a/b/',
    'devices/d1/modules//messages/events/',
    '$iothub/twin/GET/',
    '$iothub/twin/GET/?$rid=',
    '$iothub/twin/res/20/?$rid=1',
    '$iothub/twin/PATCH/properties/desired/?$version=x',
    '$iothub/methods/POST//?$rid=1',
    '$iothub/methods/res/ok/?$rid=1',
    '$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2',
    '$dps/registrations/res/202/?$rid=1&retry-after=soon',
    'hello/world',
    '',
  ])('refuses %j', (t) => {
    expect(parseTopic(t)).toBeUndefined();
  });

  it('builds and parses each other (round trip)', () => {
    for (const t of [topic.twinResponse(200, 'ab', 3), topic.methodRequest('m', '9'), topic.dpsResponse(200, '4')]) {
      expect(parseTopic(t)).toBeDefined();
    }
    expect(parseTopic(topic.telemetry({ deviceId: 'd', moduleId: 'm' }, { '$.on': 'o', 'x y': 'z' }))).toEqual({
      kind: 'telemetry',
      deviceId: 'd',
      moduleId: 'm',
      properties: { '$.on': 'o', 'x y': 'z' },
    });
  });

  it('lists the filters IoT Hub accepts per identity', () => {
    expect(allowedFilters({ deviceId: 'd' })).toContain('devices/d/messages/devicebound/#');
    expect(allowedFilters({ deviceId: 'd', moduleId: 'm' })).toContain('devices/d/modules/m/inputs/#');
    expect(allowedFilters({ deviceId: 'd', moduleId: 'm' })).not.toContain('devices/d/messages/devicebound/#');
  });
});

describe('parseMethodPayload', () => {
  it('reads JSON, keeps other text as text, and gives undefined for an empty payload', () => {
    expect(parseMethodPayload(Buffer.from('{"a":1}'))).toEqual({ a: 1 });
    expect(parseMethodPayload(Buffer.from('not json'))).toBe('not json');
    expect(parseMethodPayload(Buffer.alloc(0))).toBeUndefined();
  });
});

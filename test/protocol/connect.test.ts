import { describe, expect, it } from 'vitest';
import {
  buildDpsUsername,
  buildHubUsername,
  buildRegisterRequest,
  ConnectionStringError,
  DpsBodyError,
  formatConnectionString,
  modelIdOf,
  parseClientId,
  parseConnectionString,
  parseDpsUsername,
  parseHubUsername,
  parseOperationStatus,
  parseRegisterRequest,
} from '../../src/protocol/index.js';

describe('IoT Hub username', () => {
  it('builds the device and module forms with api-version and model-id', () => {
    expect(buildHubUsername({ hubHost: 'h.azure-devices.net', deviceId: 'd1' })).toBe(
      'h.azure-devices.net/d1/?api-version=2021-04-12',
    );
    expect(
      buildHubUsername({ hubHost: 'h', deviceId: 'd1', moduleId: 'm1', modelId: 'dtmi:com:example:Thermostat;1' }),
    ).toBe('h/d1/m1/?api-version=2021-04-12&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1');
  });
  it('parses what the Node SDK sends, with a port in the host', () => {
    expect(
      parseHubUsername(
        'localhost:8883/d1/?api-version=2021-04-12&model-id=dtmi%3Ax%3By%3B1&DeviceClientType=azure-iot-device%2F1.18.4',
      ),
    ).toMatchObject({
      hubHost: 'localhost:8883',
      deviceId: 'd1',
      apiVersion: '2021-04-12',
      modelId: 'dtmi:x;y;1',
    });
    const module = parseHubUsername('h/e1/$edgeAgent/?api-version=2018-06-30');
    expect(module).toMatchObject({ deviceId: 'e1', moduleId: '$edgeAgent', apiVersion: '2018-06-30' });
  });
  it('refuses other shapes', () => {
    expect(parseHubUsername('no-query/d1')).toBeUndefined();
    expect(parseHubUsername('h/?api-version=1')).toBeUndefined();
    expect(parseHubUsername('h/a/b/c/?api-version=1')).toBeUndefined();
  });
  it('client ids', () => {
    expect(parseClientId('e1/SimulatedTemperatureSensor')).toEqual({
      deviceId: 'e1',
      moduleId: 'SimulatedTemperatureSensor',
    });
    expect(parseClientId('d1')).toEqual({ deviceId: 'd1' });
  });
});

describe('DPS username', () => {
  it('builds and parses, with the ClientVersion the Node SDK appends', () => {
    expect(buildDpsUsername('0ne00000001', 'dev-1')).toBe('0ne00000001/registrations/dev-1/api-version=2019-03-31');
    expect(
      parseDpsUsername(
        '0ne00000001/registrations/dev-1/api-version=2019-03-31&ClientVersion=azure-iot-provisioning-device%2F1.9.1',
      ),
    ).toEqual({
      idScope: '0ne00000001',
      registrationId: 'dev-1',
      apiVersion: '2019-03-31',
    });
    expect(parseDpsUsername('h/dev-1/?api-version=2021-04-12')).toBeUndefined();
    expect(parseDpsUsername('0ne/registrations/dev-1/api-version=')).toBeUndefined();
  });
});

describe('DPS bodies', () => {
  it('builds and validates a register request with an IoT Central payload', () => {
    const body = buildRegisterRequest('leaf-1', {
      modelId: 'dtmi:x;1',
      iotcGateway: { iotcGatewayId: 'gw-1', iotcModuleId: 'idtrans' },
    });
    expect(parseRegisterRequest(JSON.stringify(body))).toEqual(body);
    expect(modelIdOf({ iotcModelId: 'dtmi:legacy;1' })).toBe('dtmi:legacy;1');
  });
  it.each([
    ['not json', 'not JSON'],
    ['[]', 'JSON object'],
    ['{"registrationId":""}', 'registrationId'],
    ['{"registrationId":"a","payload":3}', 'payload'],
    ['{"registrationId":"a","payload":{"iotcGateway":{}}}', 'iotcGatewayId'],
  ])('refuses %s', (text, message) => {
    expect(() => parseRegisterRequest(text)).toThrow(DpsBodyError);
    expect(() => parseRegisterRequest(text)).toThrow(message);
  });
  it('parses an operation status', () => {
    const status = parseOperationStatus('{"operationId":"5.71cf","status":"assigning"}');
    expect(status.status).toBe('assigning');
    expect(() => parseOperationStatus('{"status":"assigned"}')).toThrow(DpsBodyError);
  });
});

describe('connection strings', () => {
  it('parses SAS, module, gateway and X.509 forms', () => {
    expect(
      parseConnectionString('HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=YWJj==;GatewayHostName=gw'),
    ).toEqual({
      hostName: 'h.azure-devices.net',
      deviceId: 'd',
      sharedAccessKey: 'YWJj==',
      gatewayHostName: 'gw',
    });
    expect(parseConnectionString('hostname=h;deviceid=d;moduleid=m;sharedaccesskey=k')).toMatchObject({
      moduleId: 'm',
    });
    expect(parseConnectionString('HostName=h;DeviceId=d;x509=true')).toEqual({
      hostName: 'h',
      deviceId: 'd',
      x509: true,
    });
  });
  it('round-trips', () => {
    const cs = 'HostName=localhost:8883;DeviceId=d;ModuleId=m;SharedAccessKey=abc=;GatewayHostName=gw';
    expect(formatConnectionString(parseConnectionString(cs))).toBe(cs);
  });
  it.each([
    ['DeviceId=d;SharedAccessKey=k', 'HostName'],
    ['HostName=h;SharedAccessKey=k', 'DeviceId'],
    ['HostName=h;DeviceId=d', 'SharedAccessKey'],
    ['HostName=h;DeviceId=d;Color=red;SharedAccessKey=k', 'unknown'],
    ['HostName;DeviceId=d', 'no value'],
  ])('refuses %s naming what is missing', (text, what) => {
    expect(() => parseConnectionString(text)).toThrow(ConnectionStringError);
    expect(() => parseConnectionString(text)).toThrow(what);
  });
});

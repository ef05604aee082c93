import { describe, expect, it } from 'vitest';
import {
  createSasToken,
  deriveDeviceKey,
  encodeUriComponentStrict,
  hmacSign,
  parseSasToken,
  SasTokenError,
  stringToSign,
  verifySasToken,
} from '../../src/protocol/index.js';

// The six vectors of docs/protocol.md §2.4.
describe('SAS test vectors', () => {
  it('#1 signs uri/12345 with the key "password"', () => {
    const token = createSasToken({ resourceUri: 'uri', key: 'cGFzc3dvcmQ=', expiry: 12345 });
    expect(token).toContain('sig=kcWxXAK2OAaAoq2oCkaGzX2NMqDB8nCyNuq2fPYCDhk%3D');
  });
  it('#2 hmacHash', () => {
    expect(hmacSign('cGFzc3dvcmQ=', 'string-to-sign')).toBe('o1n1hiIVgzVA2+krq9ty1Z4xsIJKJZP3dYT8MOi65Y4=');
  });
  it('#3 string to sign', () => {
    expect(stringToSign('blah/blah', 12345)).toBe('blah/blah\n12345');
  });
  it('#4 derives a device key from a group key', () => {
    expect(deriveDeviceKey('cGFzc3dvcmQ=', 'device-001')).toBe('b3lDzUsttFUvwxs/FDU8Qryl6tT70/f5oVoObHC1dUI=');
  });
  it('#5 device token', () => {
    const key = deriveDeviceKey('cGFzc3dvcmQ=', 'device-001');
    const token = createSasToken({
      resourceUri: 'myhub.azure-devices.net/devices/device-001',
      key,
      expiry: 1700000000,
    });
    expect(token).toBe(
      'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdevice-001&sig=SDdmnjkYyFjrpbqAqR3vZ6%2BwYRPTKArKB3r5irq%2BZQE%3D&se=1700000000',
    );
  });
  it('#6 DPS registration token with skn=registration', () => {
    const key = deriveDeviceKey('cGFzc3dvcmQ=', 'device-001');
    const token = createSasToken({
      resourceUri: '0ne00000000/registrations/device-001',
      key,
      expiry: 1700000000,
      keyName: 'registration',
    });
    expect(token).toContain('sr=0ne00000000%2Fregistrations%2Fdevice-001');
    expect(token).toContain('sig=jmPgb70Dhz7PV%2B1KSHvceR2XX%2BNHPi9mLCqsL%2FmlQTI%3D');
    expect(token).toContain('skn=registration');
  });
});

describe('strict URI encoding', () => {
  it("also encodes ! ' ( ) *", () => {
    expect(encodeUriComponentStrict("a!b'c(d)e*f g/h")).toBe('a%21b%27c%28d%29e%2Af%20g%2Fh');
  });
});

describe('parse and verify', () => {
  const key = deriveDeviceKey('cGFzc3dvcmQ=', 'device-001');
  const resource = 'myhub.azure-devices.net/devices/device-001';

  it('parses what it creates', () => {
    const parsed = parseSasToken(createSasToken({ resourceUri: resource, key, expiry: 1700000000, keyName: 'k n' }));
    expect(parsed.resourceUri).toBe(resource);
    expect(parsed.se).toBe(1700000000);
    expect(parsed.skn).toBe('k n');
    expect(parsed.sig).toBe('SDdmnjkYyFjrpbqAqR3vZ6+wYRPTKArKB3r5irq+ZQE=');
  });

  it('accepts a valid token and refuses wrong key, wrong resource, expiry', () => {
    const token = parseSasToken(createSasToken({ resourceUri: resource, key, expiry: 2000 }));
    expect(verifySasToken(token, [key], [resource], 1000)).toEqual({ ok: true });
    expect(verifySasToken(token, ['b3RoZXI='], [resource], 1000)).toEqual({ ok: false, reason: 'signature' });
    expect(verifySasToken(token, [key], ['myhub.azure-devices.net/devices/other'], 1000)).toEqual({
      ok: false,
      reason: 'resource',
    });
    expect(verifySasToken(token, [key], [resource], 2000)).toEqual({ ok: false, reason: 'expired' });
  });

  it('tries every key (primary, secondary)', () => {
    const token = parseSasToken(createSasToken({ resourceUri: resource, key, expiry: 2000 }));
    expect(verifySasToken(token, ['b3RoZXI=', key], [resource], 1000).ok).toBe(true);
  });

  it('verifies the signature over sr as sent: unencoded, as the DPS client signs it', () => {
    const sr = '0ne00000000/registrations/device-001';
    const sig = encodeUriComponentStrict(hmacSign(key, stringToSign(sr, 2000)));
    const token = parseSasToken(`SharedAccessSignature sr=${sr}&sig=${sig}&se=2000&skn=registration`);
    expect(verifySasToken(token, [key], [sr], 1000).ok).toBe(true);
    // Re-encoding sr would break the signature: the check must not normalise it.
    const reencoded = parseSasToken(`SharedAccessSignature sr=${encodeURIComponent(sr)}&sig=${sig}&se=2000`);
    expect(verifySasToken(reencoded, [key], [sr], 1000).ok).toBe(false);
  });

  it('matches resources case-insensitively (host names)', () => {
    const token = parseSasToken(
      createSasToken({ resourceUri: 'MyHub.azure-devices.net/devices/device-001', key, expiry: 2000 }),
    );
    expect(verifySasToken(token, [key], [resource], 1000).ok).toBe(true);
  });

  it.each([
    ['', 'starts with'],
    ['Bearer abc', 'starts with'],
    ['SharedAccessSignature sr=a&sig=b', 'needs sr, sig and se'],
    ['SharedAccessSignature sr=a&sig=b&se=soon', 'epoch seconds'],
    ['SharedAccessSignature sr=a&sig&se=1', 'without a value'],
    ['SharedAccessSignature sr=%E0%A4%A&sig=b&se=1', 'URL encoding'],
  ])('refuses %j with a reason', (text, reason) => {
    expect(() => parseSasToken(text)).toThrow(SasTokenError);
    expect(() => parseSasToken(text)).toThrow(reason);
  });
});

import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../../shared/cidr';

describe('shared/cidr', () => {
  it.each([
    ['0.0.0.0/0', 4, '0.0.0.0/0'],
    ['203.0.113.7/32', 4, '203.0.113.7/32'],
    ['10.0.0.0/8', 4, '10.0.0.0/8'],
    ['::/0', 6, '::/0'],
    ['2001:DB8::/32', 6, '2001:db8::/32'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001/128', 6, '2001:db8::1/128'],
    ['2001:db8:0:0:1:0:0:1/128', 6, '2001:db8::1:0:0:1/128'],
    ['::ffff:192.0.2.1/128', 6, '::ffff:c000:201/128'],
    ['fe80::/10', 6, 'fe80::/10'],
  ])('accepts %s as IPv%i, canonically %s', (text, version, canonical) => {
    // Act
    const cidr = parseCidr(text);
    // Assess
    expect(cidr).toEqual({ version, prefix: Number(text.split('/')[1]), canonical, hostBitsSet: false });
  });

  it.each([
    '10.0.0.1',
    '10.0.0.0/',
    '10.0.0.0/33',
    '10.0.0.0/08',
    '10.0.0.0/-1',
    '256.0.0.0/8',
    '010.0.0.0/8',
    '10.0.0/8',
    '10.0.0.0.0/8',
    ' 10.0.0.0/8',
    'example.com/32',
    '::/129',
    '1:2:3:4:5:6:7:8:9/64',
    '1:2:3:4:5:6:7/64',
    '1::2::3/64',
    ':::/0',
    ':1::/64',
    '12345::/16',
    'fe80::1%eth0/64',
    '::ffff:300.0.0.1/128',
    '1.2.3.4::/64',
    '',
  ])('refuses %j', (text) => {
    // Act
    const cidr = parseCidr(text);
    // Assess
    expect(cidr).toBeUndefined();
  });

  it('flags host bits beyond the prefix and gives the network address', () => {
    // Act
    const v4 = parseCidr('10.0.0.1/24');
    const v6 = parseCidr('2001:db8::1/64');
    // Assess
    expect(v4).toMatchObject({ hostBitsSet: true, canonical: '10.0.0.0/24' });
    expect(v6).toMatchObject({ hostBitsSet: true, canonical: '2001:db8::/64' });
  });
});

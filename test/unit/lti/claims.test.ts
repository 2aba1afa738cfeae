import { describe, expect, it } from 'vitest';
import {
  autoSubmitForm,
  bearerToken,
  contextRoleName,
  escapeHtml,
  isLearner,
  launchRoleOf,
  parseCookies,
  parseForm,
  ROLE,
  TOOL_PATHS,
  toolEndpoints,
} from '../../../shared/lti';
import { ConfigurationError } from '../../../shared/errors';
import { formOf } from './support';

describe('roles', () => {
  it.each([
    [[ROLE.learner, ROLE.institutionStudent, 'http://purl.imsglobal.org/vocab/lis/v2/system/person#User'], 'Learner'],
    [[ROLE.instructor, ROLE.institutionInstructor], 'Instructor'],
    [[ROLE.teachingAssistant], 'Instructor'],
    [[ROLE.contextAdministrator], 'Instructor'],
    [[ROLE.instructor, ROLE.learner], 'Instructor'],
    [[ROLE.institutionAdministrator], 'Administrator'],
    [[ROLE.systemSysAdmin], 'Administrator'],
    [[ROLE.learner, ROLE.institutionAdministrator], 'Administrator'],
    [[ROLE.learner, ROLE.institutionInstructor], 'Learner'],
    [['Learner'], 'Learner'],
    [['Instructor'], 'Instructor'],
    [[ROLE.mentor], undefined],
    [[ROLE.contentDeveloper], undefined],
    [[ROLE.institutionInstructor], undefined],
    [[], undefined],
  ])('maps %j to %s', (roles, role) => {
    expect(launchRoleOf(roles)).toBe(role);
  });

  it('reads principal context roles from full URIs, sub-roles and simple names, and nothing else', () => {
    expect(contextRoleName(ROLE.learner)).toBe('Learner');
    expect(contextRoleName(ROLE.teachingAssistant)).toBe('Instructor');
    expect(contextRoleName('Mentor')).toBe('Mentor');
    expect(contextRoleName(ROLE.institutionStudent)).toBeUndefined();
    expect(contextRoleName('urn:lti:role:ims/lis/Learner')).toBeUndefined();
    expect(isLearner([ROLE.institutionStudent])).toBe(false);
  });
});

describe('the tool’s URLs', () => {
  it('are all under the API’s base URL, defined once', () => {
    expect(toolEndpoints('https://abc123.execute-api.ap-northeast-2.amazonaws.com/dev/')).toEqual({
      baseUrl: 'https://abc123.execute-api.ap-northeast-2.amazonaws.com/dev',
      login: `https://abc123.execute-api.ap-northeast-2.amazonaws.com/dev${TOOL_PATHS.login}`,
      launch: 'https://abc123.execute-api.ap-northeast-2.amazonaws.com/dev/lti/launch',
      jwks: 'https://abc123.execute-api.ap-northeast-2.amazonaws.com/dev/lti/jwks',
      register: 'https://abc123.execute-api.ap-northeast-2.amazonaws.com/dev/lti/register',
      session: 'https://abc123.execute-api.ap-northeast-2.amazonaws.com/dev/lti/session',
    });
  });

  it('must be https, or http on loopback', () => {
    expect(toolEndpoints('http://127.0.0.1:3000').launch).toBe('http://127.0.0.1:3000/lti/launch');
    expect(() => toolEndpoints('http://tool.example')).toThrow(ConfigurationError);
    expect(() => toolEndpoints('https://tool.example/?stage=dev')).toThrow(ConfigurationError);
    expect(() => toolEndpoints('not a url')).toThrow(ConfigurationError);
  });
});

describe('the HTTP helpers', () => {
  it('parses a form body, the first of repeated names, and nothing from JSON', () => {
    expect(parseForm('id_token=a.b.c&state=s&state=t', 'application/x-www-form-urlencoded; charset=utf-8')).toEqual({ id_token: 'a.b.c', state: 's' });
    expect(parseForm(Buffer.from('a=%20b'), undefined)).toEqual({ a: ' b' });
    expect(parseForm('{"id_token":"x"}', 'application/json')).toEqual({});
    expect(parseForm('a='.padEnd(70_000, 'x'), 'application/x-www-form-urlencoded')).toEqual({});
  });

  it('parses cookies and the bearer token', () => {
    expect(parseCookies('a=1; lti_state_x="x"; a=2')).toEqual({ a: '1', lti_state_x: 'x' });
    expect(bearerToken({ Authorization: 'Bearer abc.def.ghi' })).toBe('abc.def.ghi');
    expect(bearerToken({ authorization: 'Basic abc' })).toBeUndefined();
    expect(bearerToken({ authorization: 'Bearer a b' })).toBeUndefined();
  });

  it('builds an auto-submitting form whose values cannot break out of their attributes', () => {
    // Act
    const page = autoSubmitForm('https://tool.example/launch?a=1&b=2', { state: '"><script>alert(1)</script>', id_token: 'a.b.c' });

    // Assess
    expect(page).not.toContain('<script>alert(1)');
    expect(formOf(page)).toEqual({ action: 'https://tool.example/launch?a=1&b=2', fields: { state: '"><script>alert(1)</script>', id_token: 'a.b.c' } });
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

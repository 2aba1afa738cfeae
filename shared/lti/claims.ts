/**
 * The names LTI 1.3 and its services give things: claim URIs, message types, role URIs, scopes and media
 * types. One place, so a typo is a compile error rather than a launch that silently lacks a claim.
 *
 * Sources: IMS LTI Core 1.3 §5 (message claims) and Appendix A (role vocabularies), IMS NRPS 2.0 §2 and
 * §3 (claim, media type, scope), IMS Security Framework 1.0 §5.1 (the OIDC launch).
 */

const LTI = 'https://purl.imsglobal.org/spec/lti/claim/';

export const CLAIM = {
  messageType: `${LTI}message_type`,
  version: `${LTI}version`,
  deploymentId: `${LTI}deployment_id`,
  targetLinkUri: `${LTI}target_link_uri`,
  resourceLink: `${LTI}resource_link`,
  roles: `${LTI}roles`,
  context: `${LTI}context`,
  toolPlatform: `${LTI}tool_platform`,
  launchPresentation: `${LTI}launch_presentation`,
  custom: `${LTI}custom`,
  lis: `${LTI}lis`,
  roleScopeMentor: `${LTI}role_scope_mentor`,
  /** NRPS 2.0 §3.6.1: where the course's roster is, offered in the launch. */
  namesRoleService: 'https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice',
  /** LTI DR 1.0: the tool configuration inside a client registration. */
  toolConfiguration: 'https://purl.imsglobal.org/spec/lti-tool-configuration',
  /** LTI DR 1.0: the platform configuration inside an openid-configuration document. */
  platformConfiguration: 'https://purl.imsglobal.org/spec/lti-platform-configuration',
} as const;

export const LTI_VERSION = '1.3.0';

export const MESSAGE_TYPE = {
  resourceLink: 'LtiResourceLinkRequest',
  deepLinking: 'LtiDeepLinkingRequest',
} as const;

/** NRPS 2.0 §2.2 and §3.6: the scope a tool asks for, and the media type of a membership container. */
export const NRPS_SCOPE = 'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly';
export const NRPS_MEDIA_TYPE = 'application/vnd.ims.lti-nrps.v2.membershipcontainer+json';
/**
 * The LIS v2 media type that Canvas answers with whatever the Accept (its NamesAndRolesController's
 * MIME_TYPE) and that Moodle answers when asked for it: the same JSON body, so accepted too.
 */
export const LIS_MEMBERSHIP_MEDIA_TYPE = 'application/vnd.ims.lis.v2.membershipcontainer+json';

/** RFC 7523 §2.2, as the IMS Security Framework §4.1 uses it for the client-credentials grant. */
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

const MEMBERSHIP = 'http://purl.imsglobal.org/vocab/lis/v2/membership';
const INSTITUTION = 'http://purl.imsglobal.org/vocab/lis/v2/institution/person';
const SYSTEM = 'http://purl.imsglobal.org/vocab/lis/v2/system/person';

/** LTI Core 1.3 Appendix A.2: the role URIs hello-fleet acts on. */
export const ROLE = {
  learner: `${MEMBERSHIP}#Learner`,
  instructor: `${MEMBERSHIP}#Instructor`,
  teachingAssistant: `${MEMBERSHIP}/Instructor#TeachingAssistant`,
  contextAdministrator: `${MEMBERSHIP}#Administrator`,
  contentDeveloper: `${MEMBERSHIP}#ContentDeveloper`,
  mentor: `${MEMBERSHIP}#Mentor`,
  institutionAdministrator: `${INSTITUTION}#Administrator`,
  institutionInstructor: `${INSTITUTION}#Instructor`,
  institutionStudent: `${INSTITUTION}#Student`,
  systemAdministrator: `${SYSTEM}#Administrator`,
  systemSysAdmin: `${SYSTEM}#SysAdmin`,
} as const;

/**
 * What a launch can do in hello-fleet:
 * - Learner: their own server for this course (the student's page).
 * - Instructor: every student's server of this course (the teacher's page). Teaching assistants count:
 *   Canvas sends a TA both `membership/Instructor#TeachingAssistant` and `membership#Instructor`, and a TA
 *   runs the lab with the teacher. A course Administrator (`membership#Administrator`) counts too.
 * - Administrator: an institution or system administrator launching from a course they are not
 *   enrolled in (Canvas sends `institution/person#Administrator` for account admins). Gets the teacher's
 *   page of that course; the page may show it differently.
 */
export type LaunchRole = 'Learner' | 'Instructor' | 'Administrator';

/**
 * A context role's principal name (Learner, Instructor, Administrator, ...), or undefined for a role
 * that is not a context role. Accepts the full URI (`…/membership#Learner`), a sub-role
 * (`…/membership/Instructor#TeachingAssistant` → Instructor) and the simple names LTI Core 1.3 §A.2.3.1
 * still lets platforms send (`Learner`).
 */
export const contextRoleName = (role: string): string | undefined => {
  if (role.startsWith(`${MEMBERSHIP}#`)) return role.slice(MEMBERSHIP.length + 1);
  if (role.startsWith(`${MEMBERSHIP}/`)) return role.slice(MEMBERSHIP.length + 1).split('#')[0];
  if (/^[A-Z][A-Za-z]+$/.test(role)) return role;
  return undefined;
};

const isInstitutionAdmin = (role: string): boolean =>
  role === ROLE.institutionAdministrator || role === ROLE.systemAdministrator || role === ROLE.systemSysAdmin;

/**
 * The launch role from a roles claim: Instructor before Administrator before Learner, context roles
 * only for Instructor and Learner. Institution roles never make someone a course's teacher or student
 * (Canvas sends `institution/person#Instructor` to anyone who teaches *somewhere*); only an institution
 * or system Administrator counts. Undefined: no role hello-fleet has a page for (an observer, a
 * content developer), which the launch refuses.
 */
export const launchRoleOf = (roles: readonly string[]): LaunchRole | undefined => {
  const context = new Set(roles.map(contextRoleName).filter((name): name is string => name !== undefined));
  if (context.has('Instructor') || context.has('Administrator')) return 'Instructor';
  if (roles.some(isInstitutionAdmin)) return 'Administrator';
  if (context.has('Learner')) return 'Learner';
  return undefined;
};

/** True when the roles (a launch's or an NRPS member's) make the person a Learner of the context. */
export const isLearner = (roles: readonly string[]): boolean => roles.some((role) => contextRoleName(role) === 'Learner');

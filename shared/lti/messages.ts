import type { LtiErrorName } from '../errors';
import { MAIN_STEPS, type MainStep } from '../server-status';

/**
 * The words of the student's and the teacher's pages, in English and Korean, chosen from the launch's
 * locale (launch_presentation.locale: ko, ko-KR → Korean; anything else → English). The tutorial this
 * product automates is Korean; the Korean follows the AWS console's terms (키 페어, 프라이빗 키, 보안
 * 그룹, 인스턴스, 퍼블릭 IP, 인바운드 규칙).
 *
 * Three parts, each complete in both languages (the types make a missing entry a compile error):
 * - ui: labels, buttons, statuses; `{name}` placeholders are filled by format();
 * - steps: each step of the provision state machine, what it does and what its failure means;
 * - errors: each error a server or a launch can end with, in plain words, and what to do.
 */

export type Language = 'en' | 'ko';
export const LANGUAGES: readonly Language[] = ['en', 'ko'];

/** ko, ko-KR, ko_KR → ko; anything else, or nothing → en. */
export const pickLanguage = (locale: string | undefined): Language => (locale !== undefined && /^ko(?:[-_]|$)/i.test(locale.trim()) ? 'ko' : 'en');

const EN_UI = {
  'page.title.student': 'Your server for {course}',
  'page.title.teacher': 'Servers of {course}',
  'page.loading': 'Loading…',
  'page.retry': 'Try again',
  'page.sessionEnded': 'Your session has ended. Open hello-fleet again from the course.',

  'status.NONE': 'No server',
  'status.PROVISIONING': 'Being created',
  'status.READY': 'Ready',
  'status.FAILED': 'Failed',
  'status.ROLLING_BACK': 'Cleaning up after a failure',
  'status.TEARING_DOWN': 'Being torn down',
  'status.TERMINATED': 'Torn down',
  'status.TEARDOWN_FAILED': 'Teardown failed',
  'status.EXPIRED': 'Expired',

  'student.none': 'You have no server for this course yet.',
  'student.notOptedIn': 'Your teacher has not turned on servers for this course yet.',
  'student.provision': 'Create my server',
  'student.recreate': 'Create a new server',
  'student.currentStep': 'Now: {step} (step {index} of {total})',
  'student.ready': 'Your app is running. Open it:',
  'student.url': 'App address',
  'student.publicIp': 'Public IP',
  'student.expires': 'This server is torn down automatically at {time}.',
  'student.expired': 'This server expired at {time} and was torn down. You can create a new one.',
  'student.failedAt': 'Creating your server stopped at: {step}.',
  'student.whatToDo': 'What you can do',
  'student.keyDownload': 'Download the private key (.pem)',
  'student.keyHint': 'Keep this file private. On macOS or Linux run chmod 400 on it before ssh uses it.',
  'student.sshCommand': 'Connect with',

  'teacher.summary': '{ready} ready, {provisioning} being created, {failed} failed, {none} without a server',
  'teacher.student': 'Student',
  'teacher.status': 'Status',
  'teacher.step': 'Step',
  'teacher.reason': 'Why it failed',
  'teacher.actions': 'Actions',
  'teacher.nameHidden': '(the LMS does not share this name)',
  'teacher.optIn': 'Create a server automatically for every new student',
  'teacher.provisionAll': 'Create servers for everyone',
  'teacher.retryFailed': 'Retry the failed servers',
  'teacher.teardown': 'Tear down',
  'teacher.confirmTeardown': 'Tear down the server of {student}? Their app stops and the key stops working.',
  'teacher.endCourse': 'End the course (tear every server down)',
  'teacher.confirmEndCourse': 'Tear down every server of {course}? Students can no longer reach their apps.',
  'teacher.rosterSynced': 'Roster read from the LMS at {time}.',
  'teacher.rosterUnavailable': 'The LMS roster could not be read just now; the list shows the servers hello-fleet knows.',
  'teacher.leftCourse': 'Left the course at {time}; torn down after {grace} unless they return.',
} as const;

export type UiKey = keyof typeof EN_UI;

const KO_UI: Record<UiKey, string> = {
  'page.title.student': '{course} 실습 서버',
  'page.title.teacher': '{course} 서버 현황',
  'page.loading': '불러오는 중…',
  'page.retry': '다시 시도',
  'page.sessionEnded': '세션이 끝났습니다. 과정에서 hello-fleet을 다시 여세요.',

  'status.NONE': '서버 없음',
  'status.PROVISIONING': '만드는 중',
  'status.READY': '준비됨',
  'status.FAILED': '실패',
  'status.ROLLING_BACK': '실패 후 정리 중',
  'status.TEARING_DOWN': '해체 중',
  'status.TERMINATED': '해체됨',
  'status.TEARDOWN_FAILED': '해체 실패',
  'status.EXPIRED': '만료됨',

  'student.none': '이 과정의 서버가 아직 없습니다.',
  'student.notOptedIn': '선생님이 아직 이 과정의 서버를 켜지 않았습니다.',
  'student.provision': '내 서버 만들기',
  'student.recreate': '새 서버 만들기',
  'student.currentStep': '현재 단계: {step} ({total}단계 중 {index}단계)',
  'student.ready': '앱이 실행 중입니다. 열어 보세요:',
  'student.url': '앱 주소',
  'student.publicIp': '퍼블릭 IP',
  'student.expires': '이 서버는 {time}에 자동으로 해체(삭제)됩니다.',
  'student.expired': '이 서버는 {time}에 만료되어 해체되었습니다. 새 서버를 만들 수 있습니다.',
  'student.failedAt': '서버를 만드는 중 다음 단계에서 멈췄습니다: {step}.',
  'student.whatToDo': '이렇게 해 보세요',
  'student.keyDownload': '프라이빗 키(.pem) 내려받기',
  'student.keyHint': '이 파일은 다른 사람과 공유하지 마세요. macOS나 Linux에서는 ssh로 쓰기 전에 chmod 400을 실행하세요.',
  'student.sshCommand': '접속 명령',

  'teacher.summary': '준비됨 {ready}, 만드는 중 {provisioning}, 실패 {failed}, 서버 없음 {none}',
  'teacher.student': '학생',
  'teacher.status': '상태',
  'teacher.step': '단계',
  'teacher.reason': '실패 이유',
  'teacher.actions': '작업',
  'teacher.nameHidden': '(LMS가 이 이름을 공유하지 않습니다)',
  'teacher.optIn': '새로 등록한 학생마다 서버를 자동으로 만들기',
  'teacher.provisionAll': '모두에게 서버 만들기',
  'teacher.retryFailed': '실패한 서버 다시 시도',
  'teacher.teardown': '해체',
  'teacher.confirmTeardown': '{student} 학생의 서버를 해체할까요? 앱이 멈추고 키도 더 이상 쓸 수 없습니다.',
  'teacher.endCourse': '과정 종료(모든 서버 해체)',
  'teacher.confirmEndCourse': '{course}의 모든 서버를 해체할까요? 학생들은 더 이상 자기 앱에 접속할 수 없습니다.',
  'teacher.rosterSynced': '{time}에 LMS 명단을 읽었습니다.',
  'teacher.rosterUnavailable': '지금은 LMS 명단을 읽지 못했습니다. 목록에는 hello-fleet이 알고 있는 서버만 보입니다.',
  'teacher.leftCourse': '{time}에 과정을 떠났습니다. 돌아오지 않으면 {grace} 뒤에 해체됩니다.',
};

export interface StepText {
  /** What the step does, as a short label. */
  name: string;
  /** What it means when this step fails, and what to do. */
  failed: string;
}

const EN_STEPS: Record<MainStep, StepText> = {
  CreateKeyPair: {
    name: 'Creating the key pair (your .pem private key)',
    failed: 'AWS did not create the key pair. This is rare and usually passes: create the server again.',
  },
  CreateSecurityGroup: {
    name: "Creating the security group (the server's firewall)",
    failed: 'AWS did not create the security group, often because the account reached its limit of security groups. Ask your teacher.',
  },
  RunInstance: {
    name: 'Starting the Ubuntu server (EC2 instance)',
    failed: 'AWS did not start the instance: the account may have reached its vCPU limit, or the region had no capacity. Ask your teacher.',
  },
  WaitUntilRunning: {
    name: 'Waiting for the server to boot',
    failed: 'The instance did not reach "running" in time, or stopped by itself. Create the server again.',
  },
  InstallFastAPI: {
    name: 'Installing Python, FastAPI and uvicorn',
    failed: 'The install commands failed on the server (often the package download). The error below is the end of their output. Create the server again.',
  },
  StartUvicorn: {
    name: 'Starting the app with uvicorn on port 8000',
    failed: 'uvicorn did not start main.py. The error below is the end of its output.',
  },
  OpenIngress: {
    name: 'Opening port 8000 to the internet (inbound rule)',
    failed: 'AWS did not add the inbound rule for port 8000. Create the server again.',
  },
  HealthCheck: {
    name: 'Checking that the app answers {"Hello":"World"}',
    failed: 'The app never answered {"Hello":"World"} on port 8000, or answered something else.',
  },
};

const KO_STEPS: Record<MainStep, StepText> = {
  CreateKeyPair: {
    name: '키 페어(.pem 프라이빗 키) 만들기',
    failed: 'AWS가 키 페어를 만들지 못했습니다. 드문 일이고 대개 다시 하면 됩니다. 서버를 다시 만드세요.',
  },
  CreateSecurityGroup: {
    name: '보안 그룹(서버 방화벽) 만들기',
    failed: 'AWS가 보안 그룹을 만들지 못했습니다. 계정의 보안 그룹 수가 한도에 이른 경우가 많습니다. 선생님께 알려 주세요.',
  },
  RunInstance: {
    name: '우분투 서버(EC2 인스턴스) 시작',
    failed: 'AWS가 인스턴스를 시작하지 못했습니다. 계정의 vCPU 한도에 이르렀거나 리전에 여유 용량이 없을 수 있습니다. 선생님께 알려 주세요.',
  },
  WaitUntilRunning: {
    name: '서버 부팅 기다리기',
    failed: '인스턴스가 제시간에 "실행 중"이 되지 않았거나 스스로 멈췄습니다. 서버를 다시 만드세요.',
  },
  InstallFastAPI: {
    name: 'Python, FastAPI, uvicorn 설치',
    failed: '서버에서 설치 명령이 실패했습니다(대개 패키지 내려받기 문제). 아래 오류는 명령 출력의 마지막 부분입니다. 서버를 다시 만드세요.',
  },
  StartUvicorn: {
    name: 'uvicorn으로 앱 실행(포트 8000)',
    failed: 'uvicorn이 main.py를 실행하지 못했습니다. 아래 오류는 출력의 마지막 부분입니다.',
  },
  OpenIngress: {
    name: '포트 8000을 인터넷에 열기(인바운드 규칙)',
    failed: 'AWS가 포트 8000 인바운드 규칙을 추가하지 못했습니다. 서버를 다시 만드세요.',
  },
  HealthCheck: {
    name: '앱이 {"Hello":"World"}로 응답하는지 확인',
    failed: '앱이 포트 8000에서 {"Hello":"World"}로 끝내 응답하지 않았거나 다른 응답을 보냈습니다.',
  },
};

export interface ErrorText {
  title: string;
  /** What happened, in plain words, and what to do. */
  explanation: string;
}

/**
 * The errors a provision can end with (the state machines' error names: shared/errors.ts, the AWS
 * SDK's codes, Step Functions' States.*), explained for a student or a teacher.
 */
type ServerErrorName =
  | 'WaitTimeoutError'
  | 'CommandFailedError'
  | 'HealthCheckNotReadyError'
  | 'UnexpectedBodyError'
  | 'InstanceTerminatedError'
  | 'ImageNotFoundError'
  | 'SsmAgentNotReadyError'
  | 'ValidationError'
  | 'ConfigurationError'
  | 'VcpuLimitExceeded'
  | 'InstanceLimitExceeded'
  | 'InsufficientInstanceCapacity'
  | 'RequestLimitExceeded'
  | 'ThrottlingException'
  | 'TooManyRequestsException'
  | 'UnauthorizedOperation'
  | 'AccessDeniedException'
  | 'TimeoutError'
  | 'States.Timeout'
  | 'States.TaskFailed'
  | 'unknown';

type ErrorCatalogue = Record<ServerErrorName | LtiErrorName, ErrorText>;

const EN_ERRORS: ErrorCatalogue = {
  WaitTimeoutError: {
    title: 'It took too long',
    explanation: 'A step waited longer than its limit (the server did not boot, or the install did not finish). Nothing is left running. Create the server again.',
  },
  CommandFailedError: {
    title: 'A command failed on the server',
    explanation: 'A command hello-fleet ran on the server (installing or starting the app) ended with an error. Its last lines are shown. Create the server again; if it fails the same way, tell your teacher.',
  },
  HealthCheckNotReadyError: {
    title: 'The app did not answer yet',
    explanation: 'Port 8000 did not answer. hello-fleet keeps checking for a while before it gives up.',
  },
  UnexpectedBodyError: {
    title: 'Something else answered on port 8000',
    explanation: 'The server answered, but not with {"Hello":"World"}. Create the server again.',
  },
  InstanceTerminatedError: {
    title: 'The server stopped by itself',
    explanation: 'The EC2 instance stopped or was terminated while it was being set up. Create the server again.',
  },
  ImageNotFoundError: {
    title: 'No Ubuntu image',
    explanation: 'AWS has no Ubuntu image for this release in this region. Your teacher or the operator must fix the configuration.',
  },
  SsmAgentNotReadyError: {
    title: 'The server is not ready for commands yet',
    explanation: 'The instance booted but its SSM agent has not registered yet. hello-fleet waits for it for about ten minutes.',
  },
  ValidationError: {
    title: 'The request was not valid',
    explanation: 'hello-fleet refused the request as given. This is a bug or a configuration mistake: tell your teacher.',
  },
  ConfigurationError: {
    title: 'hello-fleet is not fully set up',
    explanation: 'A setting of this hello-fleet installation is missing. The operator must fix it.',
  },
  VcpuLimitExceeded: {
    title: 'The AWS account has no vCPUs left',
    explanation: "The account already runs as many vCPUs as AWS allows it (its quota). The teacher can tear down servers nobody uses, or ask AWS to raise the account's On-Demand vCPU quota.",
  },
  InstanceLimitExceeded: {
    title: 'The AWS account has too many instances',
    explanation: 'The account reached its limit of instances. The teacher can tear down unused servers or ask AWS for a higher limit.',
  },
  InsufficientInstanceCapacity: {
    title: 'AWS had no capacity',
    explanation: 'AWS had no free capacity of this instance type in that place just now. Try again in a few minutes.',
  },
  RequestLimitExceeded: {
    title: 'AWS asked hello-fleet to slow down',
    explanation: 'Too many requests reached AWS at once (for example a whole class at the same time). hello-fleet retries these by itself; if it still failed, try again in a few minutes.',
  },
  ThrottlingException: {
    title: 'AWS asked hello-fleet to slow down',
    explanation: 'Too many requests reached AWS at once. hello-fleet retries these by itself; if it still failed, try again in a few minutes.',
  },
  TooManyRequestsException: {
    title: 'AWS asked hello-fleet to slow down',
    explanation: 'Too many requests reached AWS at once. Try again in a few minutes.',
  },
  UnauthorizedOperation: {
    title: 'hello-fleet is not allowed to do this in AWS',
    explanation: "hello-fleet's AWS permissions do not allow this step. The operator must fix the deployment.",
  },
  AccessDeniedException: {
    title: 'hello-fleet is not allowed to do this in AWS',
    explanation: "hello-fleet's AWS permissions do not allow this step. The operator must fix the deployment.",
  },
  TimeoutError: {
    title: 'A step ran out of time',
    explanation: 'A step did not finish within its time limit. hello-fleet retries these; if it still failed, create the server again.',
  },
  'States.Timeout': {
    title: 'It took too long',
    explanation: 'The whole setup took longer than its limit and was stopped. Nothing is left running. Create the server again.',
  },
  'States.TaskFailed': {
    title: 'A step failed',
    explanation: 'A step failed in a way hello-fleet did not expect. Create the server again; if it fails the same way, tell your teacher.',
  },
  unknown: {
    title: 'Something went wrong',
    explanation: 'hello-fleet stopped with an error it cannot explain in plain words. Create the server again; if it fails the same way, tell your teacher.',
  },

  LtiLoginRequestError: {
    title: 'The LMS sent an incomplete sign-in',
    explanation: 'The course link did not send what hello-fleet needs to start. An administrator should check the tool\'s settings in the LMS (the login URL and the target link).',
  },
  LtiUnknownPlatformError: {
    title: 'This LMS is not connected to hello-fleet',
    explanation: 'hello-fleet does not know this LMS (or this tool registration). An administrator connects it with "hello-fleet lti register".',
  },
  LtiLaunchRequestError: {
    title: 'The launch was incomplete',
    explanation: 'The LMS did not send the signed launch hello-fleet expects. Open hello-fleet again from the course.',
  },
  LtiAuthenticationResponseError: {
    title: 'The LMS did not sign you in',
    explanation: 'The LMS answered that it could not sign you in to hello-fleet (for example, you are not logged in to the LMS any more). Log in to the LMS and open hello-fleet again from the course.',
  },
  LtiStateError: {
    title: 'This launch was not started here',
    explanation: 'hello-fleet could not confirm that this launch began in this browser, or it took more than ten minutes. If your browser blocks cookies inside the course page, open hello-fleet in a new window.',
  },
  LtiAlgorithmNotAllowedError: {
    title: 'The launch was not signed properly',
    explanation: 'The launch token is not signed with RS256, so hello-fleet refuses it. Nothing was created.',
  },
  LtiUnknownKeyError: {
    title: 'The launch was signed with an unknown key',
    explanation: 'The launch token names a key the LMS does not publish. Nothing was created. If this keeps happening, an administrator should check the JWKS URL registered for this LMS.',
  },
  LtiSignatureError: {
    title: 'The launch signature is invalid',
    explanation: "The launch token's signature does not match the LMS's key. Nothing was created.",
  },
  LtiIssuerMismatchError: {
    title: 'The launch came from another LMS',
    explanation: 'The launch token names another issuer than the LMS the sign-in started with. Nothing was created.',
  },
  LtiAudienceMismatchError: {
    title: 'The launch was meant for another tool',
    explanation: 'The launch token is addressed to another tool than this hello-fleet. Nothing was created.',
  },
  LtiTokenExpiredError: {
    title: 'The launch expired',
    explanation: 'The launch token is too old (or from the future: check the clocks). Open hello-fleet again from the course.',
  },
  LtiNonceError: {
    title: 'This launch was already used',
    explanation: 'Each launch can be used once. Open hello-fleet again from the course.',
  },
  LtiDeploymentNotRegisteredError: {
    title: 'This placement of hello-fleet is not registered',
    explanation: 'The LMS launched hello-fleet from a deployment hello-fleet does not know. An administrator adds its deployment id with "hello-fleet lti register".',
  },
  LtiMessageTypeError: {
    title: 'hello-fleet cannot be used this way',
    explanation: 'hello-fleet opens from a course navigation link. It does not offer content selection (deep linking).',
  },
  LtiVersionError: {
    title: 'The LMS uses another LTI version',
    explanation: 'hello-fleet speaks LTI 1.3. An administrator should register it as an LTI 1.3 tool.',
  },
  LtiClaimError: {
    title: 'The LMS left out something hello-fleet needs',
    explanation: 'The launch lacks information hello-fleet needs (the course, your LMS user id, or your role). An administrator should check the tool\'s privacy settings in the LMS.',
  },
  LtiRoleNotSupportedError: {
    title: 'hello-fleet is for students and teachers',
    explanation: 'Your role in this course is neither student nor teacher, so hello-fleet has no page for you.',
  },
  LtiPlatformUnavailableError: {
    title: 'The LMS did not answer',
    explanation: 'hello-fleet could not reach the LMS just now. Try again in a minute.',
  },
  LtiSessionError: {
    title: 'Your session has ended',
    explanation: 'Sessions last an hour. Open hello-fleet again from the course.',
  },
  LtiAccessDeniedError: {
    title: 'Not allowed',
    explanation: "You can only see and change your own server, and teachers only their own course's servers.",
  },
  LtiServiceDeniedError: {
    title: 'The LMS did not share the class list',
    explanation: 'hello-fleet may not read the course roster. In Canvas, the developer key needs the Names and Role Provisioning scope; in Moodle, the tool needs "IMS LTI Names and Role Provisioning" turned on.',
  },
  LtiServiceResponseError: {
    title: 'The LMS sent an unexpected class list',
    explanation: 'The LMS answered the roster request in a way hello-fleet does not understand. Try again later; if it persists, tell the operator.',
  },
  LtiDynamicRegistrationError: {
    title: 'Automatic registration failed',
    explanation: 'The LMS and hello-fleet could not register each other automatically. Register hello-fleet by hand with the values from "hello-fleet lti register".',
  },
};

const KO_ERRORS: ErrorCatalogue = {
  WaitTimeoutError: {
    title: '시간이 너무 오래 걸렸습니다',
    explanation: '한 단계가 제한 시간보다 오래 기다렸습니다(서버가 부팅되지 않았거나 설치가 끝나지 않았습니다). 실행 중으로 남은 것은 없습니다. 서버를 다시 만드세요.',
  },
  CommandFailedError: {
    title: '서버에서 명령이 실패했습니다',
    explanation: 'hello-fleet이 서버에서 실행한 명령(앱 설치나 실행)이 오류로 끝났습니다. 마지막 출력 몇 줄을 보여 드립니다. 서버를 다시 만들고, 같은 오류가 또 나면 선생님께 알려 주세요.',
  },
  HealthCheckNotReadyError: {
    title: '앱이 아직 응답하지 않습니다',
    explanation: '포트 8000이 응답하지 않았습니다. hello-fleet은 포기하기 전까지 한동안 계속 확인합니다.',
  },
  UnexpectedBodyError: {
    title: '포트 8000에서 다른 것이 응답했습니다',
    explanation: '서버가 응답했지만 {"Hello":"World"}가 아니었습니다. 서버를 다시 만드세요.',
  },
  InstanceTerminatedError: {
    title: '서버가 스스로 멈췄습니다',
    explanation: '설정하는 동안 EC2 인스턴스가 중지되거나 종료되었습니다. 서버를 다시 만드세요.',
  },
  ImageNotFoundError: {
    title: '우분투 이미지가 없습니다',
    explanation: '이 리전에는 해당 릴리스의 우분투 이미지가 없습니다. 선생님이나 운영자가 설정을 고쳐야 합니다.',
  },
  SsmAgentNotReadyError: {
    title: '서버가 아직 명령을 받을 준비가 안 됐습니다',
    explanation: '인스턴스는 부팅했지만 SSM 에이전트가 아직 등록되지 않았습니다. hello-fleet은 10분쯤 기다립니다.',
  },
  ValidationError: {
    title: '요청이 올바르지 않습니다',
    explanation: 'hello-fleet이 요청을 거절했습니다. 버그이거나 설정 실수이니 선생님께 알려 주세요.',
  },
  ConfigurationError: {
    title: 'hello-fleet 설정이 끝나지 않았습니다',
    explanation: '이 hello-fleet 설치에 필요한 설정이 빠져 있습니다. 운영자가 고쳐야 합니다.',
  },
  VcpuLimitExceeded: {
    title: 'AWS 계정에 남은 vCPU가 없습니다',
    explanation: '계정이 AWS가 허용하는 만큼(할당량)의 vCPU를 이미 쓰고 있습니다. 선생님이 쓰지 않는 서버를 해체하거나, AWS에 계정의 온디맨드 vCPU 할당량 증가를 요청할 수 있습니다.',
  },
  InstanceLimitExceeded: {
    title: 'AWS 계정의 인스턴스가 너무 많습니다',
    explanation: '계정의 인스턴스 수가 한도에 이르렀습니다. 선생님이 쓰지 않는 서버를 해체하거나 AWS에 한도 증가를 요청할 수 있습니다.',
  },
  InsufficientInstanceCapacity: {
    title: 'AWS에 여유 용량이 없었습니다',
    explanation: '지금 그 위치에 이 인스턴스 유형의 여유 용량이 없었습니다. 몇 분 뒤에 다시 해 보세요.',
  },
  RequestLimitExceeded: {
    title: 'AWS가 요청 속도를 늦춰 달라고 했습니다',
    explanation: '한꺼번에 너무 많은 요청이 AWS에 갔습니다(예: 반 전체가 동시에). hello-fleet이 알아서 다시 시도하지만, 그래도 실패했다면 몇 분 뒤에 다시 해 보세요.',
  },
  ThrottlingException: {
    title: 'AWS가 요청 속도를 늦춰 달라고 했습니다',
    explanation: '한꺼번에 너무 많은 요청이 AWS에 갔습니다. hello-fleet이 알아서 다시 시도하지만, 그래도 실패했다면 몇 분 뒤에 다시 해 보세요.',
  },
  TooManyRequestsException: {
    title: 'AWS가 요청 속도를 늦춰 달라고 했습니다',
    explanation: '한꺼번에 너무 많은 요청이 AWS에 갔습니다. 몇 분 뒤에 다시 해 보세요.',
  },
  UnauthorizedOperation: {
    title: 'hello-fleet에 이 AWS 작업 권한이 없습니다',
    explanation: 'hello-fleet의 AWS 권한으로는 이 단계를 할 수 없습니다. 운영자가 배포를 고쳐야 합니다.',
  },
  AccessDeniedException: {
    title: 'hello-fleet에 이 AWS 작업 권한이 없습니다',
    explanation: 'hello-fleet의 AWS 권한으로는 이 단계를 할 수 없습니다. 운영자가 배포를 고쳐야 합니다.',
  },
  TimeoutError: {
    title: '한 단계가 시간을 넘겼습니다',
    explanation: '한 단계가 제한 시간 안에 끝나지 않았습니다. hello-fleet이 다시 시도하지만, 그래도 실패했다면 서버를 다시 만드세요.',
  },
  'States.Timeout': {
    title: '시간이 너무 오래 걸렸습니다',
    explanation: '전체 설정이 제한 시간을 넘겨 중단되었습니다. 실행 중으로 남은 것은 없습니다. 서버를 다시 만드세요.',
  },
  'States.TaskFailed': {
    title: '한 단계가 실패했습니다',
    explanation: '한 단계가 hello-fleet이 예상하지 못한 방식으로 실패했습니다. 서버를 다시 만들고, 같은 오류가 또 나면 선생님께 알려 주세요.',
  },
  unknown: {
    title: '문제가 생겼습니다',
    explanation: 'hello-fleet이 쉬운 말로 설명할 수 없는 오류로 멈췄습니다. 서버를 다시 만들고, 같은 오류가 또 나면 선생님께 알려 주세요.',
  },

  LtiLoginRequestError: {
    title: 'LMS가 보낸 로그인 요청이 불완전합니다',
    explanation: '과정 링크가 hello-fleet 시작에 필요한 정보를 보내지 않았습니다. 관리자가 LMS의 도구 설정(로그인 URL과 대상 링크)을 확인해야 합니다.',
  },
  LtiUnknownPlatformError: {
    title: '이 LMS는 hello-fleet에 연결되어 있지 않습니다',
    explanation: 'hello-fleet이 이 LMS(또는 이 도구 등록)를 모릅니다. 관리자가 "hello-fleet lti register"로 연결합니다.',
  },
  LtiLaunchRequestError: {
    title: '실행 요청이 불완전합니다',
    explanation: 'LMS가 hello-fleet이 기대하는 서명된 실행 정보를 보내지 않았습니다. 과정에서 hello-fleet을 다시 여세요.',
  },
  LtiAuthenticationResponseError: {
    title: 'LMS가 로그인시켜 주지 않았습니다',
    explanation: 'LMS가 hello-fleet에 로그인시킬 수 없다고 답했습니다(예: LMS에서 로그아웃된 상태). LMS에 로그인한 뒤 과정에서 hello-fleet을 다시 여세요.',
  },
  LtiStateError: {
    title: '이 실행은 여기서 시작되지 않았습니다',
    explanation: 'hello-fleet이 이 실행이 이 브라우저에서 시작되었음을 확인하지 못했거나, 10분 넘게 걸렸습니다. 브라우저가 과정 페이지 안의 쿠키를 막는다면 hello-fleet을 새 창에서 여세요.',
  },
  LtiAlgorithmNotAllowedError: {
    title: '실행 정보가 올바르게 서명되지 않았습니다',
    explanation: '실행 토큰이 RS256으로 서명되지 않아 hello-fleet이 거절했습니다. 아무것도 만들지 않았습니다.',
  },
  LtiUnknownKeyError: {
    title: '알 수 없는 키로 서명되었습니다',
    explanation: '실행 토큰이 LMS가 공개하지 않은 키를 가리킵니다. 아무것도 만들지 않았습니다. 계속 이러면 관리자가 이 LMS에 등록된 JWKS URL을 확인해야 합니다.',
  },
  LtiSignatureError: {
    title: '실행 서명이 올바르지 않습니다',
    explanation: '실행 토큰의 서명이 LMS의 키와 맞지 않습니다. 아무것도 만들지 않았습니다.',
  },
  LtiIssuerMismatchError: {
    title: '다른 LMS에서 온 실행입니다',
    explanation: '실행 토큰의 발급자가 로그인을 시작한 LMS와 다릅니다. 아무것도 만들지 않았습니다.',
  },
  LtiAudienceMismatchError: {
    title: '다른 도구를 위한 실행입니다',
    explanation: '실행 토큰이 이 hello-fleet이 아닌 다른 도구에 발급되었습니다. 아무것도 만들지 않았습니다.',
  },
  LtiTokenExpiredError: {
    title: '실행 정보가 만료되었습니다',
    explanation: '실행 토큰이 너무 오래되었습니다(또는 미래 시각입니다. 시계를 확인하세요). 과정에서 hello-fleet을 다시 여세요.',
  },
  LtiNonceError: {
    title: '이미 사용된 실행입니다',
    explanation: '실행 정보는 한 번만 쓸 수 있습니다. 과정에서 hello-fleet을 다시 여세요.',
  },
  LtiDeploymentNotRegisteredError: {
    title: '등록되지 않은 hello-fleet 배치입니다',
    explanation: 'LMS가 hello-fleet이 모르는 배포(deployment)에서 실행했습니다. 관리자가 "hello-fleet lti register"로 그 deployment id를 추가합니다.',
  },
  LtiMessageTypeError: {
    title: 'hello-fleet은 이렇게 쓸 수 없습니다',
    explanation: 'hello-fleet은 과정 메뉴 링크에서 엽니다. 콘텐츠 선택(딥 링킹)은 지원하지 않습니다.',
  },
  LtiVersionError: {
    title: 'LMS가 다른 LTI 버전을 씁니다',
    explanation: 'hello-fleet은 LTI 1.3을 씁니다. 관리자가 LTI 1.3 도구로 등록해야 합니다.',
  },
  LtiClaimError: {
    title: 'LMS가 필요한 정보를 빼고 보냈습니다',
    explanation: '실행 정보에 hello-fleet에 필요한 것(과정, LMS 사용자 ID, 역할)이 없습니다. 관리자가 LMS의 도구 개인정보 설정을 확인해야 합니다.',
  },
  LtiRoleNotSupportedError: {
    title: 'hello-fleet은 학생과 선생님용입니다',
    explanation: '이 과정에서 학생도 선생님도 아니어서 hello-fleet에 보여 드릴 페이지가 없습니다.',
  },
  LtiPlatformUnavailableError: {
    title: 'LMS가 응답하지 않았습니다',
    explanation: '지금은 hello-fleet이 LMS에 연결하지 못했습니다. 1분 뒤에 다시 해 보세요.',
  },
  LtiSessionError: {
    title: '세션이 끝났습니다',
    explanation: '세션은 1시간 동안 유지됩니다. 과정에서 hello-fleet을 다시 여세요.',
  },
  LtiAccessDeniedError: {
    title: '허용되지 않은 작업입니다',
    explanation: '학생은 자기 서버만, 선생님은 자기 과정의 서버만 보고 바꿀 수 있습니다.',
  },
  LtiServiceDeniedError: {
    title: 'LMS가 수강생 명단을 공유하지 않았습니다',
    explanation: 'hello-fleet이 과정 명단을 읽을 권한이 없습니다. Canvas에서는 개발자 키에 Names and Role Provisioning 범위가, Moodle에서는 도구의 "IMS LTI Names and Role Provisioning" 서비스가 켜져 있어야 합니다.',
  },
  LtiServiceResponseError: {
    title: 'LMS가 예상과 다른 명단을 보냈습니다',
    explanation: 'LMS가 명단 요청에 hello-fleet이 이해할 수 없는 방식으로 답했습니다. 나중에 다시 해 보고, 계속되면 운영자에게 알려 주세요.',
  },
  LtiDynamicRegistrationError: {
    title: '자동 등록에 실패했습니다',
    explanation: 'LMS와 hello-fleet이 서로를 자동으로 등록하지 못했습니다. "hello-fleet lti register"가 알려 주는 값으로 직접 등록하세요.',
  },
};

export const MESSAGES = {
  en: { ui: EN_UI as Record<UiKey, string>, steps: EN_STEPS, errors: EN_ERRORS },
  ko: { ui: KO_UI, steps: KO_STEPS, errors: KO_ERRORS },
} as const satisfies Record<Language, { ui: Record<UiKey, string>; steps: Record<MainStep, StepText>; errors: ErrorCatalogue }>;

/** The names of the `{placeholders}` in a text. */
export const placeholders = (text: string): string[] => [...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1] as string).sort();

/**
 * A UI text with its `{placeholders}` filled. A placeholder without a value stays visible as `{name}`,
 * so a missing value shows up in a test instead of as a blank.
 */
export const format = (language: Language, key: UiKey, values: Record<string, string | number> = {}): string =>
  MESSAGES[language].ui[key].replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));

/** The label and failure text of a provision step; undefined for a name that is not a main step. */
export const stepText = (language: Language, step: string): StepText | undefined =>
  (MAIN_STEPS as readonly string[]).includes(step) ? MESSAGES[language].steps[step as MainStep] : undefined;

/** The plain-words explanation of an error name; the `unknown` text for a name without one. */
export const explainError = (language: Language, errorName: string | undefined): ErrorText => {
  const catalogue = MESSAGES[language].errors as Record<string, ErrorText>;
  return (errorName !== undefined && Object.hasOwn(catalogue, errorName) ? catalogue[errorName] : undefined) ?? catalogue.unknown as ErrorText;
};


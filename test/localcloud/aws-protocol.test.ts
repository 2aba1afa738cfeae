import { describe, expect, it } from 'vitest';
import { awsErrorReply, credentialScope, defaultErrorStatus, jsonReply, parseAwsRequest, protocolOf } from '../../localcloud/aws-protocol';

const auth = (service: string, region = 'ap-northeast-2') =>
  `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/${region}/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc`;

const ec2Request = parseAwsRequest({
  method: 'POST',
  url: '/',
  headers: { authorization: auth('ec2'), 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
  body: Buffer.from('Action=TerminateInstances&Version=2016-11-15&InstanceId.1=i-0abc&InstanceId.2=i-0def'),
});

const ssmRequest = parseAwsRequest({
  method: 'POST',
  url: '/',
  headers: { authorization: auth('ssm'), 'x-amz-target': 'AmazonSSM.SendCommand', 'content-type': 'application/x-amz-json-1.1' },
  body: Buffer.from(JSON.stringify({ InstanceIds: ['i-0abc'], DocumentName: 'AWS-RunShellScript' })),
});

const sfnRequest = parseAwsRequest({
  method: 'POST',
  url: '/',
  headers: { authorization: auth('states'), 'x-amz-target': 'AWSStepFunctions.StartExecution', 'content-type': 'application/x-amz-json-1.0' },
  body: Buffer.from('{"stateMachineArn":"arn:x"}'),
});

const iamRequest = parseAwsRequest({
  method: 'POST',
  url: '/',
  headers: { authorization: auth('iam', 'us-east-1'), 'content-type': 'application/x-www-form-urlencoded' },
  body: Buffer.from('Action=GetRole&Version=2010-05-08&RoleName=r'),
});

describe('localcloud/aws-protocol', () => {
  describe('credentialScope', () => {
    it('reads region and service from a SigV4 Authorization header', () => {
      // Act + Assess
      expect(credentialScope(auth('ec2'))).toEqual({ region: 'ap-northeast-2', service: 'ec2' });
    });

    it.each([undefined, '', 'Bearer token', 'AWS AKID:signature', 'AWS4-HMAC-SHA256 Credential=AKID/20250101/ec2/aws4_request'])(
      'finds no scope in %j',
      (header) => {
        // Act + Assess
        expect(credentialScope(header)).toBeUndefined();
      },
    );
  });

  describe('parseAwsRequest', () => {
    it('reads an EC2 query request: service, action and the form fields', () => {
      // Assess
      expect(ec2Request).toMatchObject({
        service: 'ec2',
        action: 'TerminateInstances',
        region: 'ap-northeast-2',
        params: { Action: 'TerminateInstances', 'InstanceId.1': 'i-0abc', 'InstanceId.2': 'i-0def' },
      });
      expect(ec2Request?.json).toBeUndefined();
      expect(protocolOf(ec2Request!)).toBe('ec2');
    });

    it('reads a JSON request: the action after the target prefix, the parsed body, no params', () => {
      // Assess
      expect(ssmRequest).toMatchObject({ service: 'ssm', action: 'SendCommand', params: {}, json: { InstanceIds: ['i-0abc'] } });
      expect(sfnRequest).toMatchObject({ service: 'states', action: 'StartExecution', json: { stateMachineArn: 'arn:x' } });
      expect(protocolOf(ssmRequest!)).toBe('json');
    });

    it('reads an IAM query request as the query protocol', () => {
      // Assess
      expect(iamRequest).toMatchObject({ service: 'iam', action: 'GetRole', region: 'us-east-1', params: { RoleName: 'r' } });
      expect(protocolOf(iamRequest!)).toBe('query');
    });

    it('reads the action of a GET query request from the URL', () => {
      // Act
      const req = parseAwsRequest({ method: 'GET', url: '/?Action=DescribeRegions&Version=2016-11-15', headers: { authorization: auth('ec2') }, body: Buffer.alloc(0) });
      // Assess
      expect(req).toMatchObject({ action: 'DescribeRegions', params: { Version: '2016-11-15' } });
    });

    it('names a REST request by method and path', () => {
      // Act
      const req = parseAwsRequest({ method: 'GET', url: '/2015-03-31/functions?x=1', headers: { authorization: auth('lambda') }, body: Buffer.alloc(0) });
      // Assess
      expect(req).toMatchObject({ service: 'lambda', action: 'GET /2015-03-31/functions' });
      expect(protocolOf(req!)).toBe('rest');
    });

    it('keeps a malformed JSON body as an empty object', () => {
      // Act
      const req = parseAwsRequest({ method: 'POST', url: '/', headers: { authorization: auth('ssm'), 'x-amz-target': 'AmazonSSM.GetParameter' }, body: Buffer.from('{not json') });
      // Assess
      expect(req?.json).toEqual({});
    });

    it('returns undefined for a request without a SigV4 Authorization header', () => {
      // Act + Assess
      expect(parseAwsRequest({ method: 'POST', url: '/moto-api/reset', headers: {}, body: Buffer.alloc(0) })).toBeUndefined();
    });
  });

  describe('awsErrorReply', () => {
    it("answers EC2 with EC2's <Response><Errors> envelope, 503 for RequestLimitExceeded", () => {
      // Act
      const reply = awsErrorReply(ec2Request!, 'RequestLimitExceeded', 'Request limit exceeded. <slow down>');
      // Assess
      expect(reply.status).toBe(503);
      expect(reply.headers['content-type']).toMatch(/^text\/xml/);
      expect(reply.body).toMatch(
        /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Response><Errors><Error><Code>RequestLimitExceeded<\/Code><Message>Request limit exceeded. &lt;slow down&gt;<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>$/,
      );
    });

    it.each([
      ['InternalError', 500],
      ['InternalFailure', 500],
      ['InternalServerError', 500],
      ['Unavailable', 503],
      ['ServiceUnavailable', 503],
      ['RequestLimitExceeded', 503],
      ['InvalidParameterValue', 400],
    ])('answers %s with HTTP %i unless told otherwise, as AWS does', (code, status) => {
      // Act
      const ec2 = awsErrorReply(ec2Request!, code, 'x');
      const ssm = awsErrorReply(ssmRequest!, code, 'x');
      // Assess
      expect([ec2.status, ssm.status]).toEqual([status, status]);
      expect(defaultErrorStatus(code)).toBe(status);
    });

    it('answers IAM/STS with the <ErrorResponse> envelope, Sender for a 4xx and Receiver for a 5xx', () => {
      // Act
      const client = awsErrorReply(iamRequest!, 'NoSuchEntity', 'no role', 404);
      const server = awsErrorReply(iamRequest!, 'ServiceFailure', 'oops', 500);
      // Assess
      expect(client.status).toBe(404);
      expect(client.body).toContain('<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>no role</Message></Error><RequestId>');
      expect(server.body).toContain('<Type>Receiver</Type><Code>ServiceFailure</Code>');
    });

    it('answers JSON services with x-amzn-ErrorType and __type, in the JSON version they spoke', () => {
      // Act
      const ssm = awsErrorReply(ssmRequest!, 'InvalidInstanceId', 'not ready');
      const sfn = awsErrorReply(sfnRequest!, 'ExecutionAlreadyExists', 'exists');
      // Assess
      expect(ssm).toMatchObject({ status: 400, headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': 'InvalidInstanceId' } });
      expect(JSON.parse(ssm.body)).toEqual({ __type: 'InvalidInstanceId', message: 'not ready' });
      expect(sfn.headers['content-type']).toBe('application/x-amz-json-1.0');
    });
  });

  describe('jsonReply', () => {
    it('serialises the body as JSON 1.1 by default, or the given content type', () => {
      // Act
      const ssm = jsonReply({ Command: { CommandId: 'c' } });
      const sfn = jsonReply({ executionArn: 'arn' }, 200, 'application/x-amz-json-1.0');
      // Assess
      expect(ssm).toMatchObject({ status: 200, headers: { 'content-type': 'application/x-amz-json-1.1' }, body: '{"Command":{"CommandId":"c"}}' });
      expect(sfn.headers['content-type']).toBe('application/x-amz-json-1.0');
    });
  });
});

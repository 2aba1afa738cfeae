import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { asWorkflowError } from './errors';
import { logger } from './logger';

type StepEvent = { serverId?: unknown; server?: { serverId?: unknown } } | undefined;

const serverIdOf = (event: StepEvent): string | undefined => {
  const id = event?.serverId ?? event?.server?.serverId;
  return typeof id === 'string' ? id : undefined;
};

/**
 * Puts the server id on every log line of the invocation, logs the start, the end and a failure's
 * name and message (never the event itself: it is the state, and the state is the execution history's
 * business). The error is re-thrown untouched so Step Functions sees its `name`.
 */
export const stepLogging = (step: string): MiddlewareObj<StepEvent> => ({
  before: (request) => {
    logger.resetKeys();
    logger.appendKeys({ step, serverId: serverIdOf(request.event) });
    logger.info('step started');
  },
  after: () => {
    logger.info('step succeeded');
  },
  onError: (request) => {
    const error = request.error;
    logger.error('step failed', { errorName: error?.name, errorMessage: error?.message });
  },
});

/**
 * Gives every AWS service fault one name before Step Functions sees it: an HTTP 5xx or a dropped
 * connection from any AWS SDK call becomes AwsServiceFaultError (shared/errors.ts asWorkflowError), which
 * the ASL retries; throttling, 4xx client faults and our own errors go on unchanged.
 */
export const awsServiceFaults = (): MiddlewareObj => ({
  onError: (request) => {
    request.error = asWorkflowError(request.error) as Error;
  },
});

/**
 * The handler every Task state's Lambda exports: middy with the step's logging and the AWS fault
 * mapping (it runs first on an error, so the log line shows the name the ASL will match). @middy/core
 * throws `TimeoutError` shortly before the Lambda's own timeout, which the ASL retries like any fault.
 */
export const stepHandler = <I, O>(step: string, lambdaHandler: (input: I, context: Context) => Promise<O>) =>
  middy<I, O>(lambdaHandler, { timeoutEarlyInMillis: 500 })
    .use(stepLogging(step) as MiddlewareObj<I, O>)
    .use(awsServiceFaults() as MiddlewareObj<I, O>);

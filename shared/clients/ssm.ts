import { SSMClient } from '@aws-sdk/client-ssm';
import { sdkClientConfig } from './config';

/** Created once per container. Region, endpoint (AWS_ENDPOINT_URL) and credentials come from the environment. */
export const ssmClient = new SSMClient(sdkClientConfig());

/**
 * For SendCommand only: the SDK never retries it. SendCommand takes no idempotency token, so when SSM
 * has accepted a command but the answer is lost (a 5xx after the fact, a dropped connection), a retry
 * inside the SDK runs the script a second time, alongside the first. Without it the step fails with
 * AwsServiceFaultError, the ASL retries the step, and sendScriptOnce finds the command already sent.
 */
export const ssmSendCommandClient = new SSMClient({ ...sdkClientConfig(), maxAttempts: 1 });

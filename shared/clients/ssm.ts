import { SSMClient } from '@aws-sdk/client-ssm';
import { sdkClientConfig } from './config';

/** Created once per container. Region, endpoint (AWS_ENDPOINT_URL) and credentials come from the environment. */
export const ssmClient = new SSMClient(sdkClientConfig());

import { SFNClient } from '@aws-sdk/client-sfn';
import { sdkClientConfig } from './config';

/** Created once per container. Region, endpoint (AWS_ENDPOINT_URL) and credentials come from the environment. */
export const sfnClient = new SFNClient(sdkClientConfig());

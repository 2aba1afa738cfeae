import { EC2Client } from '@aws-sdk/client-ec2';
import { sdkClientConfig } from './config';

/** Created once per container. Region, endpoint (AWS_ENDPOINT_URL) and credentials come from the environment. */
export const ec2Client = new EC2Client(sdkClientConfig());

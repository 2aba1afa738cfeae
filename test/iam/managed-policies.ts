/**
 * AWS managed policies the tier needs the text of, copied verbatim (a managed policy's document is not
 * in the template, so the simulator could not see it otherwise).
 *
 * AmazonSSMManagedInstanceCore, version v2 (the default since 2019-05-23), from AWS's managed policy
 * reference: https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonSSMManagedInstanceCore.html
 * The policy AWS's docs and console suggest for an instance managed by Systems Manager; hello-fleet's
 * instance role used to attach it. Note `ssm:GetParameter` and `ssm:GetParameters` on "*".
 */
export const AMAZON_SSM_MANAGED_INSTANCE_CORE = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: [
        'ssm:DescribeAssociation',
        'ssm:GetDeployablePatchSnapshotForInstance',
        'ssm:GetDocument',
        'ssm:DescribeDocument',
        'ssm:GetManifest',
        'ssm:GetParameter',
        'ssm:GetParameters',
        'ssm:ListAssociations',
        'ssm:ListInstanceAssociations',
        'ssm:PutInventory',
        'ssm:PutComplianceItems',
        'ssm:PutConfigurePackageResult',
        'ssm:UpdateAssociationStatus',
        'ssm:UpdateInstanceAssociationStatus',
        'ssm:UpdateInstanceInformation',
      ],
      Resource: '*',
    },
    {
      Effect: 'Allow',
      Action: ['ssmmessages:CreateControlChannel', 'ssmmessages:CreateDataChannel', 'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel'],
      Resource: '*',
    },
    {
      Effect: 'Allow',
      Action: [
        'ec2messages:AcknowledgeMessage',
        'ec2messages:DeleteMessage',
        'ec2messages:FailMessage',
        'ec2messages:GetEndpoint',
        'ec2messages:GetMessages',
        'ec2messages:SendReply',
      ],
      Resource: '*',
    },
  ],
} as const;

-- CreateTable
CREATE TABLE "Agent" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "nodeName" TEXT NOT NULL,
    "nodeGroup" TEXT NOT NULL,
    "interfaces" JSONB NOT NULL DEFAULT '[]',
    "kernelVersion" TEXT NOT NULL DEFAULT '',
    "xdpModes" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "agentVersion" TEXT NOT NULL DEFAULT '',
    "protectedCidrs" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "connected" BOOLEAN NOT NULL DEFAULT false,
    "sessionId" TEXT,
    "connectedAt" TIMESTAMPTZ(3),
    "lastSeenAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "appliedVersion" TEXT,
    "appliedAt" TIMESTAMPTZ(3),
    "sentVersion" TEXT,
    "sentAt" TIMESTAMPTZ(3),
    "failedVersion" TEXT,
    "lastError" TEXT,
    "failedAt" TIMESTAMPTZ(3),
    "counters" JSONB NOT NULL DEFAULT '[]',
    "countersAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Agent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "XdpPolicy" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "nodeGroup" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "spec" JSONB NOT NULL,
    "bundle" JSONB NOT NULL,
    "version" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdBy" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "XdpPolicy_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "XdpGroupState" (
    "tenantId" UUID NOT NULL,
    "nodeGroup" TEXT NOT NULL,
    "desiredPolicyId" UUID NOT NULL,
    "desiredVersion" TEXT NOT NULL,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "XdpGroupState_pkey" PRIMARY KEY ("tenantId","nodeGroup")
);

-- CreateIndex
CREATE INDEX "Agent_tenantId_nodeGroup_idx" ON "Agent"("tenantId", "nodeGroup");

-- CreateIndex
CREATE UNIQUE INDEX "Agent_tenantId_nodeName_key" ON "Agent"("tenantId", "nodeName");

-- CreateIndex
CREATE INDEX "XdpPolicy_tenantId_nodeGroup_version_idx" ON "XdpPolicy"("tenantId", "nodeGroup", "version");

-- CreateIndex
CREATE UNIQUE INDEX "XdpPolicy_tenantId_nodeGroup_seq_key" ON "XdpPolicy"("tenantId", "nodeGroup", "seq");

-- CreateTable
CREATE TABLE "Playbook" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "spec" JSONB NOT NULL,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Playbook_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PlaybookRun" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "playbookId" UUID NOT NULL,
    "workflowId" TEXT NOT NULL,
    "target" TEXT NOT NULL,
    "params" JSONB NOT NULL DEFAULT '{}',
    "triggerType" TEXT NOT NULL,
    "triggerId" UUID,
    "startedById" TEXT NOT NULL,
    "startedByName" TEXT NOT NULL,
    "phase" TEXT NOT NULL,
    "currentStepIndex" INTEGER NOT NULL DEFAULT 0,
    "pauseReason" TEXT,
    "status" JSONB NOT NULL DEFAULT '{}',
    "failure" JSONB,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMPTZ(3),

    CONSTRAINT "PlaybookRun_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PlaybookRunEvent" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "runId" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "action" TEXT NOT NULL,
    "stepIndex" INTEGER NOT NULL,
    "phase" TEXT NOT NULL,
    "actorType" TEXT NOT NULL,
    "actorId" TEXT NOT NULL,
    "actorName" TEXT NOT NULL,
    "detail" JSONB NOT NULL DEFAULT '{}',
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PlaybookRunEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PlaybookApproval" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "runId" UUID NOT NULL,
    "stepIndex" INTEGER NOT NULL,
    "decision" TEXT NOT NULL,
    "principalId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "comment" TEXT NOT NULL DEFAULT '',
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PlaybookApproval_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PlaybookChange" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "runId" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "stepIndex" INTEGER NOT NULL,
    "kind" TEXT NOT NULL,
    "revisionId" UUID,
    "policyId" UUID,
    "version" TEXT NOT NULL,
    "result" JSONB NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PlaybookChange_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PlaybookTrigger" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "playbookId" UUID NOT NULL,
    "target" TEXT NOT NULL,
    "params" JSONB NOT NULL DEFAULT '{}',
    "condition" JSONB NOT NULL,
    "intervalMs" INTEGER NOT NULL,
    "cooldownMs" INTEGER NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "workflowId" TEXT NOT NULL,
    "createdById" TEXT NOT NULL,
    "createdByName" TEXT NOT NULL,
    "lastFiredAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PlaybookTrigger_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Playbook_tenantId_name_idx" ON "Playbook"("tenantId", "name");

-- CreateIndex
CREATE UNIQUE INDEX "Playbook_tenantId_name_version_key" ON "Playbook"("tenantId", "name", "version");

-- CreateIndex
CREATE INDEX "PlaybookRun_tenantId_target_idx" ON "PlaybookRun"("tenantId", "target");

-- CreateIndex
CREATE INDEX "PlaybookRun_tenantId_createdAt_idx" ON "PlaybookRun"("tenantId", "createdAt");

-- CreateIndex
CREATE INDEX "PlaybookRunEvent_tenantId_runId_idx" ON "PlaybookRunEvent"("tenantId", "runId");

-- CreateIndex
CREATE UNIQUE INDEX "PlaybookRunEvent_runId_seq_key" ON "PlaybookRunEvent"("runId", "seq");

-- CreateIndex
CREATE INDEX "PlaybookApproval_tenantId_runId_idx" ON "PlaybookApproval"("tenantId", "runId");

-- CreateIndex
CREATE UNIQUE INDEX "PlaybookApproval_runId_stepIndex_principalId_key" ON "PlaybookApproval"("runId", "stepIndex", "principalId");

-- CreateIndex
CREATE INDEX "PlaybookChange_tenantId_runId_idx" ON "PlaybookChange"("tenantId", "runId");

-- CreateIndex
CREATE UNIQUE INDEX "PlaybookChange_runId_key_key" ON "PlaybookChange"("runId", "key");

-- CreateIndex
CREATE INDEX "PlaybookTrigger_tenantId_idx" ON "PlaybookTrigger"("tenantId");

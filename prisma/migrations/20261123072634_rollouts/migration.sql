-- CreateTable
CREATE TABLE "Rollout" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "workflowId" TEXT NOT NULL,
    "routeName" TEXT NOT NULL,
    "revisionId" UUID NOT NULL,
    "spec" JSONB NOT NULL,
    "stepsHash" TEXT NOT NULL,
    "phase" TEXT NOT NULL,
    "currentStepIndex" INTEGER NOT NULL DEFAULT 0,
    "pauseReason" TEXT,
    "canaryWeight" INTEGER NOT NULL DEFAULT 0,
    "status" JSONB NOT NULL DEFAULT '{}',
    "failure" JSONB,
    "authors" TEXT[],
    "startedById" TEXT NOT NULL,
    "startedByName" TEXT NOT NULL,
    "lastGoodRevisionId" UUID,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMPTZ(3),

    CONSTRAINT "Rollout_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RolloutEvent" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "rolloutId" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "action" TEXT NOT NULL,
    "stepIndex" INTEGER NOT NULL,
    "phase" TEXT NOT NULL,
    "actorType" TEXT NOT NULL,
    "actorId" TEXT NOT NULL,
    "actorName" TEXT NOT NULL,
    "detail" JSONB NOT NULL DEFAULT '{}',
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RolloutEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RolloutApproval" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "rolloutId" UUID NOT NULL,
    "stepIndex" INTEGER NOT NULL,
    "decision" TEXT NOT NULL,
    "principalId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "comment" TEXT NOT NULL DEFAULT '',
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RolloutApproval_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Rollout_workflowId_key" ON "Rollout"("workflowId");

-- CreateIndex
CREATE INDEX "Rollout_tenantId_routeName_idx" ON "Rollout"("tenantId", "routeName");

-- CreateIndex
CREATE INDEX "Rollout_tenantId_phase_idx" ON "Rollout"("tenantId", "phase");

-- CreateIndex
CREATE INDEX "RolloutEvent_tenantId_rolloutId_idx" ON "RolloutEvent"("tenantId", "rolloutId");

-- CreateIndex
CREATE UNIQUE INDEX "RolloutEvent_rolloutId_seq_key" ON "RolloutEvent"("rolloutId", "seq");

-- CreateIndex
CREATE INDEX "RolloutApproval_tenantId_rolloutId_idx" ON "RolloutApproval"("tenantId", "rolloutId");

-- CreateIndex
CREATE UNIQUE INDEX "RolloutApproval_rolloutId_stepIndex_principalId_key" ON "RolloutApproval"("rolloutId", "stepIndex", "principalId");

-- CreateEnum
CREATE TYPE "PolicyKind" AS ENUM ('admission', 'request');

-- CreateEnum
CREATE TYPE "PolicyVersionStatus" AS ENUM ('compiled', 'failed');

-- CreateTable
CREATE TABLE "Policy" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "kind" "PolicyKind" NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "liveVersionId" UUID,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Policy_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PolicyVersion" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "policyId" UUID NOT NULL,
    "number" INTEGER NOT NULL,
    "modules" JSONB NOT NULL,
    "data" JSONB NOT NULL DEFAULT '{}',
    "entrypoints" TEXT[],
    "status" "PolicyVersionStatus" NOT NULL,
    "diagnostics" JSONB NOT NULL DEFAULT '[]',
    "testResults" JSONB NOT NULL DEFAULT '[]',
    "wasm" BYTEA,
    "wasmSha256" TEXT,
    "createdBy" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PolicyVersion_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "DecisionLog" (
    "id" BIGSERIAL NOT NULL,
    "tenantId" UUID NOT NULL,
    "policyId" UUID NOT NULL,
    "policyVersionId" UUID NOT NULL,
    "policyName" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "allowed" BOOLEAN NOT NULL,
    "httpStatus" INTEGER NOT NULL,
    "method" TEXT NOT NULL DEFAULT '',
    "path" TEXT NOT NULL DEFAULT '',
    "route" TEXT NOT NULL DEFAULT '',
    "input" JSONB NOT NULL,
    "result" JSONB NOT NULL,
    "durationUs" INTEGER NOT NULL,
    "error" TEXT,

    CONSTRAINT "DecisionLog_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Policy_liveVersionId_key" ON "Policy"("liveVersionId");

-- CreateIndex
CREATE INDEX "Policy_tenantId_kind_idx" ON "Policy"("tenantId", "kind");

-- CreateIndex
CREATE UNIQUE INDEX "Policy_tenantId_name_key" ON "Policy"("tenantId", "name");

-- CreateIndex
CREATE INDEX "PolicyVersion_tenantId_policyId_idx" ON "PolicyVersion"("tenantId", "policyId");

-- CreateIndex
CREATE UNIQUE INDEX "PolicyVersion_policyId_number_key" ON "PolicyVersion"("policyId", "number");

-- CreateIndex
CREATE INDEX "DecisionLog_tenantId_at_idx" ON "DecisionLog"("tenantId", "at");

-- CreateIndex
CREATE INDEX "DecisionLog_tenantId_policyName_at_idx" ON "DecisionLog"("tenantId", "policyName", "at");

-- AddForeignKey
ALTER TABLE "Policy" ADD CONSTRAINT "Policy_liveVersionId_fkey" FOREIGN KEY ("liveVersionId") REFERENCES "PolicyVersion"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PolicyVersion" ADD CONSTRAINT "PolicyVersion_policyId_fkey" FOREIGN KEY ("policyId") REFERENCES "Policy"("id") ON DELETE CASCADE ON UPDATE CASCADE;

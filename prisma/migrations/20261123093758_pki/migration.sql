-- CreateTable
CREATE TABLE "CertificateAuthority" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "parentId" UUID,
    "subject" TEXT NOT NULL,
    "serial" TEXT NOT NULL,
    "certPem" TEXT NOT NULL,
    "keyEnvelope" TEXT,
    "keyKid" TEXT,
    "notBefore" TIMESTAMPTZ(3) NOT NULL,
    "notAfter" TIMESTAMPTZ(3) NOT NULL,
    "status" TEXT NOT NULL,
    "crlNumber" INTEGER NOT NULL DEFAULT 0,
    "crlPem" TEXT,
    "crlThisUpdate" TIMESTAMPTZ(3),
    "crlNextUpdate" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "retiredAt" TIMESTAMPTZ(3),

    CONSTRAINT "CertificateAuthority_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Certificate" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "caId" UUID,
    "source" TEXT NOT NULL,
    "commonName" TEXT NOT NULL,
    "dnsNames" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "ipAddresses" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "uris" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "usage" TEXT NOT NULL,
    "serial" TEXT NOT NULL,
    "certPem" TEXT NOT NULL,
    "chainPem" TEXT NOT NULL,
    "keyEnvelope" TEXT NOT NULL,
    "keyKid" TEXT NOT NULL,
    "notBefore" TIMESTAMPTZ(3) NOT NULL,
    "notAfter" TIMESTAMPTZ(3) NOT NULL,
    "validitySeconds" INTEGER NOT NULL,
    "renewBeforeSeconds" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "supersededById" UUID,
    "revokedAt" TIMESTAMPTZ(3),
    "revocationReason" TEXT,
    "createdBy" TEXT NOT NULL,
    "issueKey" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Certificate_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "CertificateAuthority_tenantId_status_idx" ON "CertificateAuthority"("tenantId", "status");

-- CreateIndex
CREATE INDEX "Certificate_tenantId_name_idx" ON "Certificate"("tenantId", "name");

-- CreateIndex
CREATE INDEX "Certificate_tenantId_status_notAfter_idx" ON "Certificate"("tenantId", "status", "notAfter");

-- CreateIndex
CREATE INDEX "Certificate_caId_status_idx" ON "Certificate"("caId", "status");

-- CreateIndex
CREATE UNIQUE INDEX "Certificate_tenantId_issueKey_key" ON "Certificate"("tenantId", "issueKey");

# Airflow image with the reconciliation pipeline installed and its DAGs in place.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client \
 && rm -rf /var/lib/apt/lists/*
USER airflow

WORKDIR /opt/recon
COPY --chown=airflow:root requirements.txt constraints.txt pyproject.toml ./
# The image already carries Airflow; the constraints keep every other package at the tested version.
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt

COPY --chown=airflow:root pipelines/ pipelines/
COPY --chown=airflow:root schemas/ schemas/
COPY --chown=airflow:root sql/ sql/
COPY --chown=airflow:root rules/ rules/
COPY --chown=airflow:root data_samples/ data_samples/
COPY --chown=airflow:root dags/ /opt/airflow/dags/
RUN pip install --no-cache-dir --no-deps -e .

ENV RECON_RULES=/opt/recon/rules \
    RECON_HOME=/opt/recon/var \
    GX_ANALYTICS_ENABLED=False

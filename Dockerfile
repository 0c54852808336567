# The operator's image: paramedic and its dependencies on a plain Python 3.11+ base, run as a non-root user.
#
# BASE is any image with python3 (3.11 or newer) on its PATH. `make image` bootstraps one from the Debian
# archive with mmdebstrap (tagged paramedic-base, the default here) and builds this file with buildah; with
# another builder, pass --build-arg BASE=<a Python 3.11 image you trust>.
#
# Nothing is downloaded inside the build: the context holds the wheels of paramedic, its dependencies and pip,
# built beforehand on the build machine (`pip wheel --wheel-dir dist/wheels . pip`, which `make image` runs).
# The deploy manifests expect the tag paramedic:0.1.0.
ARG BASE=paramedic-base

FROM ${BASE} AS install
COPY dist/wheels /wheels
# pip runs from its own wheel, so pip itself never lands in the image; --no-index: only the wheels above.
RUN set -e; pip="$(echo /wheels/pip-*.whl)/pip"; \
    python3 "$pip" install --no-index --find-links /wheels --no-warn-script-location --disable-pip-version-check \
        --target /opt/paramedic paramedic

FROM ${BASE}
COPY --from=install /opt/paramedic /opt/paramedic
# A named user for tools that look the uid up; no home, no shell. The uid matches the Deployment's runAsUser.
RUN echo 'paramedic:x:10001:10001:paramedic:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
    && echo 'paramedic:x:10001:' >> /etc/group
USER 10001:10001
# Bytecode was compiled at install time; the root file system is read-only in the Deployment.
ENV PYTHONPATH=/opt/paramedic PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
EXPOSE 8080 8081 9095
ENTRYPOINT ["python3", "-m", "paramedic"]
CMD ["run", "--leader-elect"]

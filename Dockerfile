# Multi-stage: build a wheel, install it into a slim runtime as a non-root user.
# docker build -t paramedic:0.1.0 .   (the kustomize base expects that tag)
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin paramedic
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels /root/.cache
USER 10001
ENV PYTHONUNBUFFERED=1
EXPOSE 8080 8081 9095
ENTRYPOINT ["paramedic"]
CMD ["run", "--leader-elect"]
